// Sets html[data-theme] before the page paints (a classic script in <head>,
// so there is no flash of the other theme): the remembered choice, or else
// the system's prefers-color-scheme, followed while it changes.
(() => {
  const root = document.documentElement;
  const system = matchMedia('(prefers-color-scheme: dark)');
  const chosen = () => {
    try {
      const t = localStorage.getItem('logviewer.theme');
      return t === 'light' || t === 'dark' ? t : '';
    } catch { return ''; } // storage disabled
  };
  root.dataset.theme = chosen() || (system.matches ? 'dark' : 'light');
  system.addEventListener('change', () => {
    if (!chosen()) root.dataset.theme = system.matches ? 'dark' : 'light';
  });
})();
