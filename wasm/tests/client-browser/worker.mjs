// A module Worker running the same client checks as the page.
const failure = (error) => ({ failed: String(error?.stack ?? error) });

try {
  const clientModule = await import('/pkg/client/index.js');
  const { runClientChecks } = await import('./checks.mjs');
  const apiKey = new URL(self.location.href).searchParams.get('key');
  self.postMessage({ ...(await runClientChecks(clientModule, apiKey)), inWorker: typeof WorkerGlobalScope !== 'undefined' });
} catch (error) {
  self.postMessage(failure(error));
}
