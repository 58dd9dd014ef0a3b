// Runs the client checks on the page and in a module Worker; client-browser.test.mjs reads
// window.pageResult and window.workerResult. The API key comes in the query string.
import * as clientModule from '/pkg/client/index.js';
import { runClientChecks } from './checks.mjs';

const failure = (error) => ({ failed: String(error?.stack ?? error) });
const apiKey = new URL(location.href).searchParams.get('key');

window.pageResult = runClientChecks(clientModule, apiKey).catch(failure);

window.workerResult = new Promise((resolve) => {
  const worker = new Worker(`./worker.mjs?key=${encodeURIComponent(apiKey)}`, { type: 'module' });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve(failure(event.message || 'the Worker failed to load'));
});
