// Applies the remembered theme before the page paints (a classic script in
// <head>, so there is no flash of the other theme). Without a remembered
// choice the page follows prefers-color-scheme.
try {
  const t = localStorage.getItem('logviewer.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch { /* storage disabled */ }
