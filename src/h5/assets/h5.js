// Progressive enhancement only: every page works without it.
(function () {
  'use strict';

  // 导航: open the hall in WeChat's map (JS-SDK openLocation); outside WeChat the link's map page opens.
  var nav = document.querySelectorAll('[data-open-location]');
  if (nav.length) {
    var cfg = document.body.dataset.jssdk ? JSON.parse(document.body.dataset.jssdk) : null;
    var wx = window.wx || window.jWeixin;
    var ready = false;
    if (wx && cfg && /MicroMessenger/i.test(navigator.userAgent)) {
      wx.config({ debug: false, appId: cfg.appId, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr, signature: cfg.signature, jsApiList: ['openLocation'] });
      wx.ready(function () { ready = true; });
    }
    Array.prototype.forEach.call(nav, function (a) {
      a.addEventListener('click', function (e) {
        if (!ready) return;
        e.preventDefault();
        wx.openLocation({ latitude: Number(a.dataset.lat), longitude: Number(a.dataset.lng), name: a.dataset.name || '', address: a.dataset.address || '', scale: 16 });
      });
    });
  }

  // Forms: the same checks as the server, before anything is sent.
  function idCardOk(v) {
    if (!/^\d{17}[\dXx]$/.test(v)) return false;
    var w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += Number(v[i]) * w[i];
    return '10X98765432'[sum % 11] === v[17].toUpperCase();
  }
  function showError(field, message) {
    var box = field.closest('.wb-field');
    if (!box) return;
    var p = box.querySelector('.wb-field-error.js');
    if (!message) {
      if (p) p.remove();
      box.classList.remove('has-error');
      return;
    }
    if (!p) {
      p = document.createElement('p');
      p.className = 'wb-field-error js';
      p.setAttribute('role', 'alert');
      box.appendChild(p);
    }
    p.textContent = message;
    box.classList.add('has-error');
  }
  function check(field) {
    var label = (field.closest('.wb-field') || {}).querySelector ? field.closest('.wb-field').querySelector('label').firstChild.textContent : '';
    if (field.type === 'file') {
      var max = Number(field.dataset.maxKb) * 1024;
      var count = Number(field.dataset.maxFiles || 1);
      if (field.files.length > count) return showError(field, label + '最多传 ' + count + ' 个文件。'), false;
      for (var i = 0; i < field.files.length; i++) {
        if (field.files[i].size > max) return showError(field, label + '「' + field.files[i].name + '」太大了。'), false;
      }
      if (field.required && field.files.length === 0) return showError(field, '请上传' + label + '。'), false;
      return showError(field, ''), true;
    }
    var v = field.value.trim();
    if (field.required && !v) return showError(field, '请填写' + label + '。'), false;
    if (v && field.dataset.idcard !== undefined && !idCardOk(v)) return showError(field, label + '不正确（校验位不对），请核对后再填。'), false;
    if (v && field.pattern && !new RegExp('^(?:' + field.pattern + ')$').test(v)) return showError(field, label + '的格式不对。'), false;
    return showError(field, ''), true;
  }
  Array.prototype.forEach.call(document.querySelectorAll('form.wb-form'), function (form) {
    var fields = form.querySelectorAll('input:not([type=hidden]), select');
    Array.prototype.forEach.call(fields, function (f) { f.addEventListener('change', function () { check(f); }); });
    form.addEventListener('submit', function (e) {
      // 保存草稿 and 删除 (formnovalidate) go as they are: nothing needs to be complete for them.
      if (e.submitter && (e.submitter.value === 'draft' || e.submitter.formNoValidate)) return;
      var ok = true;
      Array.prototype.forEach.call(fields, function (f) { ok = check(f) && ok; });
      if (!ok) {
        e.preventDefault();
        var first = form.querySelector('.has-error input, .has-error select');
        if (first) first.focus();
      }
    });
    // The draft is kept as the citizen types (text fields; files go with 保存草稿 or 提交).
    var url = form.dataset.draft;
    if (!url || !window.fetch) return;
    var timer = null;
    form.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var body = new URLSearchParams();
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name && el.type !== 'file' && el.type !== 'submit') body.append(el.name, el.value);
        });
        fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      }, 1500);
    });
  });
})();
