import { createLogger } from './platform/log.ts';
import { isLoopback } from './core.ts';
import { ProfileError } from './profile/load.ts';
import { start } from './server.ts';

const log = createLogger();

try {
  const instance = await start({ log });
  // Demo only (the emulator is on): make the first administrator so the panel can be tried at once.
  let firstAdmin = '';
  if (instance.emulator) {
    if ((await instance.accounts.count()) === 0) {
      const { account, password } = await instance.accounts.create({ username: 'admin', name: '演示管理员', role: 'admin', department: null, mustChangePassword: false });
      await instance.audit.record({ actor: { kind: 'system' }, action: 'staff-create', target: `staff:${account.id}`, detail: 'admin（演示管理员），演示启动时创建' });
      firstAdmin = `  Administrator:    admin / ${password}   (demo only; shown once — reset with: npm run staff -- reset-password admin)\n`;
    }
  }
  const phone = instance.emulator ? `${(process.env.PUBLIC_URL || `http://localhost:${instance.port}`).replace(/\/$/, '')}/emulator/phone` : null;
  log.info({ host: instance.host, port: instance.port, db: instance.db.options.type, kv: instance.kv.backend }, `${instance.profile.account.name} is listening`);
  // The emulator lets whoever reaches the server act as any citizen: say who can.
  const reach = !instance.emulator
    ? ''
    : isLoopback(instance.host)
      ? `  This machine only (${instance.host}): with the emulator on, whoever reaches the server can act as any\n` +
        `  citizen. HOST=0.0.0.0 opens it to the network — do that only on a network you trust.\n`
      : `  WARNING: the emulator is on and the server listens on ${instance.host} (HOST): anyone on the network\n` +
        `  can act as any citizen and read their messages. Unset HOST to listen on this machine only.\n`;
  if (instance.emulator && !isLoopback(instance.host)) log.warn({ host: instance.host }, 'the emulator is reachable from the network');
  process.stdout.write(
    `\n  微办 weiban — ${instance.profile.account.name}\n` +
      `  WeChat callback:  http://localhost:${instance.port}/wechat\n` +
      (phone ? `  Emulator phone:   ${phone}\n` : '') +
      `  Staff panel:      http://localhost:${instance.port}/admin\n` +
      firstAdmin +
      `  Health:           http://localhost:${instance.port}/healthz\n` +
      (reach ? `\n${reach}` : '') +
      '\n',
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await instance.close(5_000);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  if (err instanceof ProfileError) {
    process.stderr.write(`\n${err.message}\n\nFix the profile and start again.\n`);
  } else {
    log.fatal({ err }, 'could not start');
    process.stderr.write(`\nweiban could not start: ${(err as Error).message}\n`);
  }
  process.exit(1);
}
