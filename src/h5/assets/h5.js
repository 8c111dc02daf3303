// Progressive enhancement only: every page works without it.
(function () {
  'use strict';
  // 导航: open the hall in WeChat's map (JS-SDK openLocation); outside WeChat the link's map page opens.
  var nav = document.querySelectorAll('[data-open-location]');
  if (!nav.length) return;
  var body = document.body;
  var cfg = body.dataset.jssdk ? JSON.parse(body.dataset.jssdk) : null;
  var wx = window.wx || window.jWeixin;
  var ready = false;
  if (wx && cfg && /MicroMessenger/i.test(navigator.userAgent)) {
    wx.config({ debug: false, appId: cfg.appId, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr, signature: cfg.signature, jsApiList: ['openLocation'] });
    wx.ready(function () { ready = true; });
  }
  Array.prototype.forEach.call(nav, function (a) {
    a.addEventListener('click', function (e) {
      if (!ready) return; // follow the link to the map page
      e.preventDefault();
      wx.openLocation({
        latitude: Number(a.dataset.lat),
        longitude: Number(a.dataset.lng),
        name: a.dataset.name || '',
        address: a.dataset.address || '',
        scale: 16,
      });
    });
  });
})();
