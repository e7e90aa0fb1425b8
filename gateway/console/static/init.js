/* Starts GOV.UK Frontend's components (error summary focus, header and navigation menus, skip link).
   GOV.UK's page template marks the body with an inline script; the console allows no inline script
   (Content-Security-Policy script-src 'self'), so this module does it. Only browsers that run
   modules get here, which is what govuk-frontend-supported means. */
import { initAll } from './vendor/govuk-frontend-5.14.0/govuk-frontend.min.js';

document.body.classList.add('js-enabled', 'govuk-frontend-supported');
initAll();
