// The pay page: 微信支付 opens WeChat's pay sheet (getBrandWCPayRequest through WeixinJSBridge);
// outside WeChat the QR code page is offered. The QR page waits for the payment and moves on.
(function () {
  'use strict';

  var form = document.querySelector('[data-pay-form]');
  var wait = document.querySelector('[data-pay-wait]');

  function bridge(timeoutMs) {
    return new Promise(function (resolve) {
      if (window.WeixinJSBridge) return resolve(window.WeixinJSBridge);
      var done = false;
      document.addEventListener('WeixinJSBridgeReady', function () {
        if (!done) { done = true; resolve(window.WeixinJSBridge); }
      }, false);
      setTimeout(function () { if (!done) { done = true; resolve(window.WeixinJSBridge || null); } }, timeoutMs);
    });
  }

  function poll(statusUrl, receipt, tries) {
    fetch(statusUrl + '?check=' + (tries % 3 === 0 ? '1' : '0'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.paid) window.location.href = receipt;
        else if (tries < 200) setTimeout(function () { poll(statusUrl, receipt, tries + 1); }, 3000);
      })
      .catch(function () { setTimeout(function () { poll(statusUrl, receipt, tries + 1); }, 5000); });
  }

  if (wait) poll(wait.dataset.status, wait.dataset.receipt, 1);
  if (!form) return;

  var button = form.querySelector('[data-pay-button]');
  var error = form.querySelector('[data-pay-error]');
  function fail(text) {
    error.textContent = text;
    error.hidden = false;
    if (button) { button.disabled = false; button.textContent = button.dataset.label; }
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!button || button.disabled) return;
    button.dataset.label = button.dataset.label || button.textContent;
    button.disabled = true;
    button.textContent = '正在打开微信支付…';
    error.hidden = true;
    bridge(1500).then(function (jsb) {
      if (!jsb) {
        fail('请在微信里打开本页支付，或者点下面的按钮扫码支付。');
        return;
      }
      var body = new URLSearchParams(new FormData(form));
      return fetch(form.action, { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' }, body: body.toString() })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          if (!res.ok) {
            if (res.j && res.j.receipt) { window.location.href = res.j.receipt; return; }
            fail((res.j && res.j.error) || '暂时不能支付，请稍后再试。');
            return;
          }
          jsb.invoke('getBrandWCPayRequest', res.j.params, function (out) {
            var msg = (out && out.err_msg) || '';
            if (msg === 'get_brand_wcpay_request:ok') {
              button.textContent = '支付成功，正在打开收据…';
              window.location.href = res.j.receipt;
            } else if (msg === 'get_brand_wcpay_request:cancel') {
              fail('您取消了支付。需要时可以再点「微信支付」。');
            } else {
              fail('支付没有成功' + (out && out.err_desc ? '：' + out.err_desc : '') + '。可以再试一次，或换一种支付方式。');
            }
          });
        });
    }).catch(function () { fail('网络不太好，请稍后再试。'); });
  });
})();
