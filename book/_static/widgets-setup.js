// Loaded between RequireJS and the ipywidgets manager (embed-amd.js) on pages
// with saved widget state; see nb_ipywidgets_js in _config.yml.
(function () {
  // 1. The manager finds its Font Awesome fonts next to the AMD module it runs
  //    as; by default RequireJS puts that module beside the page
  //    (labs/@jupyter-widgets/...), so point it at the vendored copy.
  var vendor = new URL("vendor/html-manager", document.currentScript.src).href;
  window.requirejs.config({ paths: { "@jupyter-widgets/html-manager/dist": vendor } });

  // 2. ipywidgets typesets widget labels with the MathJax 2 call
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book runs
  //    MathJax 3, which has no Hub, so that call would throw. Answer it with
  //    MathJax 3's own typesetting. Widgets are drawn on "load", after this.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) return;
    mathjax.Hub = {
      Queue: function (job) {
        var element = job && job[2];
        return mathjax.startup.promise.then(function () {
          return mathjax.typesetPromise(element ? [element] : undefined);
        });
      },
    };
  });
})();
