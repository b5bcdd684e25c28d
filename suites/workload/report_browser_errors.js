/* Injected first into the report under test: records every error the page raises or logs. */
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'resource'));
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('rejection: ' + e.reason); });
(function () {
  var orig = console.error;
  console.error = function () { window.__errors.push('console.error: ' + [].join.call(arguments, ' ')); orig.apply(console, arguments); };
})();
