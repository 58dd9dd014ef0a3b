// The demo page's main thread: it reads the controls, asks the Worker (worker.js) to rerank, and
// renders. Nothing slow runs here: fetching, decoding and reranking all happen in the Worker.

const LIKES_KEY = 'vecgate-demo:likes';
/** Suggestions under the text box; any text works, the Worker embeds it. */
const EXAMPLES = [
  'animated film for kids about toys',
  'computer hacker fighting the system',
  'a heist that goes wrong',
  'space battles and rebels against an empire',
  'a shark terrorizes a beach town',
  'romantic comedy in New York',
  'haunted house horror',
  'courtroom drama about an innocent man',
];
/** Typing waits this long for a pause before the text is embedded. */
const TYPING_PAUSE_MS = 150;
const DEFAULT_WEIGHTS = { similarity: 0.5, personalization: 0.25, recency: 0.15, popularity: 0.1 };
const WEIGHT_NAMES = Object.keys(DEFAULT_WEIGHTS);

const $ = (id) => document.getElementById(id);
const worker = new Worker('./worker.js', { type: 'module' });

// ---------------------------------------------------------------------------------------------
// Talking to the Worker

let nextRequest = 0;
const pending = new Map();
worker.onmessage = ({ data }) => {
  const request = pending.get(data.id);
  pending.delete(data.id);
  if (data.ok) request.resolve(data.result);
  else request.reject(new Error(data.error));
};
worker.onerror = (event) => {
  event.preventDefault();
  showError(`The worker failed to start: ${event.message || 'see the browser console'}`);
};

function ask(type, payload = {}) {
  const id = nextRequest++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, type, ...payload });
  });
}

// ---------------------------------------------------------------------------------------------
// State

let films = []; // [{id, title, year}] of the bundled sample
let filmByLabel = new Map(); // datalist label → film
let filmById = new Map();
let bounds = { years: { min: 0, max: 9999 }, ratings: { min: 0, max: 10 } };
let likes = readLikes();
let selectedFilm = null;

function readLikes() {
  try {
    const stored = JSON.parse(localStorage.getItem(LIKES_KEY) ?? '[]');
    return Array.isArray(stored) ? stored.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

function saveLikes() {
  try {
    localStorage.setItem(LIKES_KEY, JSON.stringify(likes));
  } catch {
    // storage refused (private mode, quota): likes last for this visit only
  }
}

// ---------------------------------------------------------------------------------------------
// Controls → rerank options

function number(id, fallback) {
  const value = $(id).valueAsNumber;
  return Number.isFinite(value) ? value : fallback;
}

function weights() {
  return Object.fromEntries(WEIGHT_NAMES.map((name) => [name, number(`w-${name}`, DEFAULT_WEIGHTS[name])]));
}

/** The filter in vecgate's filter language; ranges at their full extent are left out, so that
 * films without a rating or a year still show. */
function filter(excludeId) {
  const parts = [];
  const genre = $('genre').value;
  if (genre) parts.push({ genres: [genre] });
  const range = (key, min, max, extent) => {
    const condition = {};
    if (min > extent.min) condition.$gte = min;
    if (max < extent.max) condition.$lte = max;
    if (Object.keys(condition).length > 0) parts.push({ [key]: condition });
  };
  range('rating', number('rating-min', bounds.ratings.min), number('rating-max', bounds.ratings.max), bounds.ratings);
  range('year', number('year-min', bounds.years.min), number('year-max', bounds.years.max), bounds.years);
  if (excludeId) parts.push({ id: { $ne: excludeId } });
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0] : { $and: parts };
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

/** Dims the picker that is not the query, and says what the film picker still needs. */
function showMode() {
  $('text-field').classList.toggle('inactive', mode() !== 'text');
  $('film-field').classList.toggle('inactive', mode() !== 'film');
  if (mode() === 'film' && !selectedFilm) $('film-note').textContent = 'Pick a title from the list.';
}

/** What to rerank for, or null when the film picker holds no film yet or the text box is blank. */
function currentRequest() {
  const film = mode() === 'film' ? selectedFilm : null;
  if (mode() === 'film' && !film) return null;
  const text = $('text').value.trim();
  if (mode() === 'text' && text === '') {
    $('text-note').textContent = 'Type what you would like to watch.';
    return null;
  }
  const lambda = number('mmr', 1);
  const options = {
    k: number('k', 10),
    weights: weights(),
    filter: filter(film?.id),
    mmrLambda: lambda < 1 ? lambda : null,
  };
  return {
    query: film ? { film: film.id } : { text },
    options,
    likes,
    serverCandidates: $('server').checked,
  };
}

// ---------------------------------------------------------------------------------------------
// Rerank scheduling: at most one request in flight; changes made meanwhile coalesce into one
// follow-up request with the latest state.

let inFlight = false;
let dirty = false;
let renders = 0;

function schedule() {
  dirty = true;
  document.body.dataset.busy = 'true';
  if (!inFlight) void run();
}

async function run() {
  inFlight = true;
  while (dirty) {
    dirty = false;
    const request = currentRequest();
    if (!request) continue;
    $('request-json').textContent = JSON.stringify(
      { query: request.query.film ? `vector of ${request.query.film}` : `embedding of "${request.query.text}"`, ...request.options,
        preference: likes.length ? `learned from ${likes.length} liked film(s)` : null },
      null,
      2,
    );
    try {
      render(await ask('rerank', request));
      hideError();
    } catch (error) {
      showError(`Rerank failed: ${error.message}`);
    }
  }
  inFlight = false;
  document.body.dataset.busy = 'false';
}

// ---------------------------------------------------------------------------------------------
// Rendering

const integer = new Intl.NumberFormat('en');

function render({ hits, micros, embedding, isolated, source, notice, preference }) {
  const list = $('results');
  const rows = hits.map((hit, rank) => resultRow(hit, rank));
  list.replaceChildren(...rows);
  if (hits.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No film matches these filters.';
    list.append(empty);
  }
  list.setAttribute('aria-busy', 'false');
  list.dataset.renders = String(++renders);
  const timer = isolated ? '' : ' (timer resolution ~100 µs)';
  const ms = (value) => (value / 1000).toFixed(2);
  const embedded = !embedding
    ? 'no embedding (a film\'s vector)'
    : embedding.cached
      ? `embedding remembered (${ms(embedding.micros)} ms when first typed)`
      : `embedding ${ms(embedding.micros)} ms`;
  $('timing').textContent = `${hits.length} results · ${embedded} · rerank ${ms(micros)} ms in the Worker${timer}`;
  $('timing').dataset.micros = String(micros);
  $('timing').dataset.embedMicros = embedding ? String(embedding.micros) : '';
  if (embedding) {
    const model = { cache: 'from Cache Storage', network: 'downloaded' }[embedding.model] ?? embedding.model;
    $('text-note').textContent = `${embedding.tokens} tokens, embedded in the Worker (model ${model}).`;
    $('text-note').dataset.model = embedding.model;
  }
  showSource(source);
  $('notice').hidden = !notice;
  $('notice').textContent = notice ?? '';
  showTaste(preference);
}

function resultRow(hit, rank) {
  const row = document.createElement('li');
  row.className = 'result';
  row.dataset.id = hit.id;
  row.dataset.genres = hit.genres.join('|');
  row.dataset.year = String(hit.year ?? '');
  row.dataset.rating = String(hit.rating ?? '');

  const position = document.createElement('span');
  position.className = 'rank';
  position.textContent = String(rank + 1);

  const body = document.createElement('div');
  body.className = 'film';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = hit.title;
  const details = document.createElement('span');
  details.className = 'details';
  const rating = hit.rating === null ? 'no rating' : `★ ${hit.rating.toFixed(1)}`;
  details.textContent = [hit.genres.join(', ') || 'no genre', hit.year ?? 'year unknown', rating].join(' · ');
  body.append(title, details);

  const score = document.createElement('span');
  score.className = 'score';
  score.title = 'blended score';
  score.textContent = hit.score.toFixed(3);

  const similar = document.createElement('button');
  similar.type = 'button';
  similar.className = 'similar';
  similar.textContent = '≈';
  similar.title = 'Films similar to this one';
  similar.setAttribute('aria-label', `Films similar to ${hit.title}`);
  similar.addEventListener('click', () => chooseFilm(filmById.get(hit.id) ?? hit));

  const liked = likes.includes(hit.id);
  const like = document.createElement('button');
  like.type = 'button';
  like.className = 'like';
  like.textContent = liked ? '♥' : '♡';
  like.setAttribute('aria-pressed', String(liked));
  like.setAttribute('aria-label', `Like ${hit.title}`);
  like.addEventListener('click', () => toggleLike(hit.id));

  row.append(position, body, score, similar, like);
  return row;
}

function showSource(source) {
  const where = {
    network: `downloaded (${integer.format(Math.round(source.fetchMs))} ms)`,
    indexeddb: `from the IndexedDB cache (saved ${new Date(source.storedAt).toLocaleString()})`,
    revalidated: 'from the IndexedDB cache (revalidated: 304 Not Modified)',
  }[source.from];
  const what = source.server ? 'server candidates' : 'films, the bundled sample';
  const status = $('status');
  status.textContent =
    `${integer.format(source.len)} ${what} · ${source.encoding}, ${source.dims} dimensions, ` +
    `${integer.format(Math.round(source.bytes / 1024))} KiB · ${where}${recallNote(source.recall)}`;
  status.dataset.from = source.from;
  status.dataset.server = String(source.server);
}

/** The server's measured recall, as the status line shows it. */
function recallNote(recall) {
  if (!recall) return '';
  const target = recall.target ? ` (target ${recall.target})` : '';
  if (!recall.samples || recall.mean === null) return ` · server recall not measured yet${target}`;
  return ` · server recall@k ${recall.mean.toFixed(3)} over ${integer.format(recall.samples)} checks${target}`;
}

function showTaste(preference) {
  $('clear-likes').disabled = likes.length === 0;
  if (!preference) {
    $('taste').textContent = 'Like films (♥) to build a preference vector; it feeds the personalization weight.';
    return;
  }
  const top = Object.entries(preference.genreAffinities)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([genre, affinity]) => `${genre} ${affinity.toFixed(2)}`)
    .join(', ');
  const off = number('w-personalization', 0) === 0 ? ' The personalization weight is 0, so it has no effect.' : '';
  $('taste').textContent =
    `${preference.likes} liked · confidence ${preference.confidence.toFixed(2)}` +
    `${top ? ` · genres: ${top}` : ''}.${off}`;
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function hideError() {
  $('error').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Interactions

function toggleLike(id) {
  likes = likes.includes(id) ? likes.filter((liked) => liked !== id) : [...likes, id];
  saveLikes();
  schedule();
}

function filmLabel(film) {
  return film.year === null ? film.title : `${film.title} (${film.year})`;
}

function chooseFilm(film) {
  selectedFilm = film;
  $('film').value = [...filmByLabel].find(([, f]) => f.id === film.id)?.[0] ?? filmLabel(film);
  document.querySelector('input[name="mode"][value="film"]').checked = true;
  $('film-note').textContent = `Query: the vector of ${filmLabel(film)}.`;
  showMode();
  schedule();
}

function onFilmInput() {
  const film = filmByLabel.get($('film').value);
  if (film) {
    chooseFilm(film);
  } else {
    selectedFilm = null;
    $('film-note').textContent = $('film').value ? 'Pick a title from the list.' : '';
    showMode();
  }
}

function outputFor(id, format) {
  const input = $(id);
  const show = () => {
    $(`${id}-value`).textContent = format(input.valueAsNumber);
  };
  input.addEventListener('input', show);
  show();
}

function fill(init) {
  films = init.films;
  filmById = new Map(films.map((f) => [f.id, f]));
  // Remakes share titles and sometimes years: such labels get the id to stay unique.
  const counts = new Map();
  for (const f of films) counts.set(filmLabel(f), (counts.get(filmLabel(f)) ?? 0) + 1);
  filmByLabel = new Map(
    films.map((f) => [counts.get(filmLabel(f)) > 1 ? `${filmLabel(f)} · ${f.id}` : filmLabel(f), f]),
  );
  const options = [...filmByLabel.keys()].sort((a, b) => a.localeCompare(b)).map((label) => new Option(label));
  $('film-titles').replaceChildren(...options);

  $('text-examples').replaceChildren(...EXAMPLES.map((text) => new Option(text)));
  $('genre').append(...init.genres.map((genre) => new Option(genre, genre)));

  bounds = { years: init.years, ratings: init.ratings };
  for (const [id, value] of [
    ['year-min', init.years.min],
    ['year-max', init.years.max],
  ]) {
    Object.assign($(id), { min: init.years.min, max: init.years.max, value });
  }
  for (const [id, value] of [
    ['rating-min', init.ratings.min],
    ['rating-max', init.ratings.max],
  ]) {
    Object.assign($(id), { min: init.ratings.min, max: init.ratings.max, value });
  }
  for (const id of ['text', 'film', 'server']) $(id).disabled = false;
  showMode();
}

function wire() {
  outputFor('k', (v) => String(v));
  outputFor('mmr', (v) => (v < 1 ? `λ ${v.toFixed(2)}` : 'off'));
  for (const name of WEIGHT_NAMES) outputFor(`w-${name}`, (v) => v.toFixed(2));

  $('controls').addEventListener('submit', (event) => event.preventDefault());
  let typing = null;
  $('controls').addEventListener('input', (event) => {
    if (event.target.id === 'film') return onFilmInput();
    clearTimeout(typing);
    if (event.target.id === 'text') {
      document.querySelector('input[name="mode"][value="text"]').checked = true;
      showMode();
      // Embed once the typing pauses, not on every key.
      document.body.dataset.busy = 'true';
      typing = setTimeout(schedule, TYPING_PAUSE_MS);
      return;
    }
    showMode();
    schedule();
  });
  // Selects and checkboxes fire `change` (and `input`) — `input` above covers them all.
  $('reset-weights').addEventListener('click', () => {
    for (const name of WEIGHT_NAMES) {
      $(`w-${name}`).value = String(DEFAULT_WEIGHTS[name]);
      $(`w-${name}`).dispatchEvent(new Event('input', { bubbles: true }));
    }
  });
  $('clear-likes').addEventListener('click', () => {
    likes = [];
    saveLikes();
    schedule();
  });
  $('forget-cache').addEventListener('click', async () => {
    await ask('forget-cache');
    $('status').textContent = 'Cached data forgotten: the next load downloads it again.';
  });
  // On a phone the results matter more than the knobs: start with them folded.
  if (matchMedia('(max-width: 700px)').matches) $('tuning').open = false;
}

async function start() {
  wire();
  try {
    const init = await ask('init');
    fill(init);
    $('status').textContent = 'Loading the embedding model…';
    document.body.dataset.ready = 'true';
    schedule();
  } catch (error) {
    $('status').textContent = 'The demo could not start.';
    showError(error.message);
  }
}

start();
