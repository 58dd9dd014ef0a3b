// A module Worker: imports the package's browser entry by URL (import maps do not reach Workers)
// and runs the checks named by `?checks=` ("movies": the candidate set, "index": the HNSW Index).
const failure = (error) => ({ failed: String(error?.stack ?? error) });

try {
  const params = new URL(self.location.href).searchParams;
  const vecgate = await import(params.get('entry'));
  await vecgate.init();
  const { runChecks, runIndexChecks } = await import('./checks.mjs');
  const run = { movies: runChecks, index: runIndexChecks }[params.get('checks')];
  if (!run) throw new Error(`unknown checks ${params.get('checks')}`);
  self.postMessage({ ...(await run(vecgate)), inWorker: typeof WorkerGlobalScope !== 'undefined' });
} catch (error) {
  self.postMessage(failure(error));
}
