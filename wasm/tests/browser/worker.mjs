// A module Worker: imports the package's browser entry by URL (import maps do not reach Workers).
const failure = (error) => ({ failed: String(error?.stack ?? error) });

try {
  const entry = new URL(self.location.href).searchParams.get('entry');
  const vecgate = await import(entry);
  const { runChecks } = await import('./checks.mjs');
  self.postMessage({ ...(await runChecks(vecgate)), inWorker: typeof WorkerGlobalScope !== 'undefined' });
} catch (error) {
  self.postMessage(failure(error));
}
