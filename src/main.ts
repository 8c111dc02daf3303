import { createLogger } from './platform/log.ts';
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
  log.info({ port: instance.port, db: instance.db.options.type, kv: instance.kv.backend }, `${instance.profile.account.name} is listening`);
  process.stdout.write(
    `\n  微办 weiban — ${instance.profile.account.name}\n` +
      `  WeChat callback:  http://localhost:${instance.port}/wechat\n` +
      (phone ? `  Emulator phone:   ${phone}\n` : '') +
      `  Staff panel:      http://localhost:${instance.port}/admin\n` +
      firstAdmin +
      `  Health:           http://localhost:${instance.port}/healthz\n\n`,
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
