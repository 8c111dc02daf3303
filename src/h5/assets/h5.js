// Progressive enhancement only: every page works without it.
(function () {
  'use strict';

  // JS-SDK, where the page is signed for it and it runs inside WeChat; everything below works without.
  var cfg = document.body.dataset.jssdk ? JSON.parse(document.body.dataset.jssdk) : null;
  var wx = window.wx || window.jWeixin;
  var wxReady = false;
  if (wx && cfg && /MicroMessenger/i.test(navigator.userAgent)) {
    wx.config({ debug: false, appId: cfg.appId, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr, signature: cfg.signature, jsApiList: ['openLocation', 'getLocation'] });
    wx.ready(function () { wxReady = true; });
  }

  // 导航: open the hall in WeChat's map (openLocation); outside WeChat the link's map page opens.
  Array.prototype.forEach.call(document.querySelectorAll('[data-open-location]'), function (a) {
    a.addEventListener('click', function (e) {
      if (!wxReady) return;
      e.preventDefault();
      wx.openLocation({ latitude: Number(a.dataset.lat), longitude: Number(a.dataset.lng), name: a.dataset.name || '', address: a.dataset.address || '', scale: 16 });
    });
  });

  // 离我最近: ask where the citizen is (only when they tap) and list the halls by distance. In WeChat
  // getLocation gives the same coordinates (GCJ-02) as the halls'; a plain browser's (WGS-84) are a
  // few hundred metres off in China, which still ranks the halls right.
  var locate = document.querySelector('[data-locate]');
  if (locate && (wx || navigator.geolocation)) {
    locate.hidden = false;
    locate.addEventListener('click', function () {
      var label = locate.textContent;
      locate.disabled = true;
      locate.textContent = '正在定位…';
      function go(lat, lng) {
        var u = new URL(window.location.href);
        u.searchParams.set('lat', lat.toFixed(5));
        u.searchParams.set('lng', lng.toFixed(5));
        window.location.href = u.toString();
      }
      function fail() {
        locate.disabled = false;
        locate.textContent = label;
        var tip = locate.parentNode.querySelector('.wb-tip');
        if (tip) tip.textContent = '没能取到您的位置。可以在公众号里发送位置，按远近排列。';
      }
      if (wxReady) wx.getLocation({ type: 'gcj02', success: function (r) { go(r.latitude, r.longitude); }, fail: fail, cancel: fail });
      else if (navigator.geolocation) navigator.geolocation.getCurrentPosition(function (p) { go(p.coords.latitude, p.coords.longitude); }, fail, { timeout: 10000, maximumAge: 600000 });
      else fail();
    });
  }

  // 随手拍: locate the citizen, then let them drag the pin to where the problem is (the box spans
  // about 300 m each way around the located point); the hidden lat/lng go with the form.
  var pin = document.querySelector('[data-pin]');
  var pinBtn = document.querySelector('[data-pin-locate]');
  if (pin && pinBtn) {
    var latIn = document.querySelector('[data-pin-lat]');
    var lngIn = document.querySelector('[data-pin-lng]');
    var tip = document.querySelector('[data-pin-tip]');
    var mark = pin.querySelector('.wb-pin-mark');
    var origin = null;
    var SPAN = 300; // metres from the centre to the box's edge
    function place(x, y) {
      var w = pin.clientWidth, h = pin.clientHeight;
      x = Math.max(0, Math.min(w, x));
      y = Math.max(0, Math.min(h, y));
      mark.style.left = x + 'px';
      mark.style.top = y + 'px';
      var dx = (x - w / 2) / (w / 2) * SPAN, dy = (h / 2 - y) / (h / 2) * SPAN * h / w;
      var lat = origin.lat + dy / 111320;
      var lng = origin.lng + dx / (111320 * Math.cos(origin.lat * Math.PI / 180));
      latIn.value = lat.toFixed(6);
      lngIn.value = lng.toFixed(6);
      var m = Math.round(Math.sqrt(dx * dx + dy * dy));
      tip.textContent = m < 10 ? '图钉在您现在的位置。问题不在这里的话，可以拖动图钉。' : '图钉离您约 ' + m + ' 米。松手的位置就是问题所在的地方。';
    }
    function show(lat, lng) {
      origin = { lat: lat, lng: lng };
      pin.hidden = false;
      place(pin.clientWidth / 2, pin.clientHeight / 2);
    }
    if (latIn.value && lngIn.value) show(Number(latIn.value), Number(lngIn.value));
    function at(e) {
      var r = pin.getBoundingClientRect();
      var p = e.touches ? e.touches[0] : e;
      place(p.clientX - r.left, p.clientY - r.top);
    }
    var dragging = false;
    pin.addEventListener('pointerdown', function (e) { dragging = true; pin.setPointerCapture(e.pointerId); at(e); });
    pin.addEventListener('pointermove', function (e) { if (dragging) at(e); });
    pin.addEventListener('pointerup', function () { dragging = false; });
    pinBtn.addEventListener('click', function () {
      var label = pinBtn.textContent;
      pinBtn.disabled = true;
      pinBtn.textContent = '正在定位…';
      function done(lat, lng) { pinBtn.disabled = false; pinBtn.textContent = '重新定位'; show(lat, lng); }
      function fail() { pinBtn.disabled = false; pinBtn.textContent = label; tip.textContent = '没能取到位置。可以在下面写下地点，或者在公众号里直接发送位置。'; }
      if (wxReady) wx.getLocation({ type: 'gcj02', success: function (r) { done(r.latitude, r.longitude); }, fail: fail, cancel: fail });
      else if (navigator.geolocation) navigator.geolocation.getCurrentPosition(function (p) { done(p.coords.latitude, p.coords.longitude); }, fail, { timeout: 10000, maximumAge: 60000 });
      else fail();
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
