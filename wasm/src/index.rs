//! The `Index` class: the core HNSW index in the browser (a Worker or a page), with string ids,
//! metadata filters, deletes, and bytes for IndexedDB.

use js_sys::Array;
use serde_json::Value;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, SearchOptions, Storage};
use vecgate_core::kernels::Metric;
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{
    is_absent, json_from_js, json_to_js, number, number_value, object, optional_choice,
    optional_whole_number, parse_filter, whole_number, JsJson, Options, DEFAULT_K,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_INDEX: &'static str = r#"
/** Options of `new Index(options)`. */
export interface IndexOptions {
  dims: number;
  /** Default "cosine". */
  metric?: "cosine" | "dot" | "l2";
  /** Neighbours per node (default 16). */
  m?: number;
  /** Beam width while building (default 200). */
  efConstruction?: number;
  /** Default beam width while searching (default 64). */
  efSearch?: number;
  /** "f32" (default), "int8" (4x smaller), or "int8+f32" (int8 walk, exact rescoring). */
  storage?: "f32" | "int8" | "int8+f32";
  /** Seeds the level assignment, so the same inserts build the same graph. */
  seed?: number;
}
/** Options of `Index.search`. */
export interface IndexSearchOptions {
  /** How many results at most; default 10. */
  k?: number;
  /** Beam width for this search. */
  ef?: number;
  /** Only items whose metadata matches. */
  filter?: Filter | null;
}
/** A search result of `Index.search`. */
export interface IndexHit {
  id: string;
  score: number;
  metadata: Metadata | null;
}
"#;

/// An HNSW index over string ids.
#[wasm_bindgen]
pub struct Index {
    inner: HnswIndex,
}

fn object_metadata(metadata: &JsValue) -> Result<Option<Value>, Error> {
    if is_absent(metadata) {
        return Ok(None);
    }
    match json_from_js("metadata", metadata)? {
        object @ Value::Object(_) => Ok(Some(object)),
        _ => Err(Error::InvalidArgument("metadata must be an object".into())),
    }
}

// JS reads `.len`; an `isEmpty` would only widen the API.
#[allow(clippy::len_without_is_empty)]
#[wasm_bindgen]
impl Index {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "IndexOptions")] options: JsValue,
    ) -> Result<Index, JsError> {
        let options = Options::read(
            "index options",
            &options,
            &[
                "dims",
                "metric",
                "m",
                "efConstruction",
                "efSearch",
                "storage",
                "seed",
            ],
        )?;
        let dims = whole_number("dims", number("dims", &options.required("dims")?)?)?;
        let mut config = HnswConfig::new(dims);
        config.metric =
            match optional_choice("metric", &options.get("metric"), &["cosine", "dot", "l2"])? {
                Some("dot") => Metric::Dot,
                Some("l2") => Metric::L2,
                _ => Metric::Cosine,
            };
        config.m = optional_whole_number("m", &options.get("m"), config.m)?;
        config.ef_construction = optional_whole_number(
            "efConstruction",
            &options.get("efConstruction"),
            config.ef_construction,
        )?;
        config.ef_search =
            optional_whole_number("efSearch", &options.get("efSearch"), config.ef_search)?;
        config.seed =
            optional_whole_number("seed", &options.get("seed"), config.seed as usize)? as u64;
        let storage = optional_choice(
            "storage",
            &options.get("storage"),
            &["f32", "int8", "int8+f32"],
        )?;
        config.storage = match storage {
            Some("int8") => Storage::Int8 {
                keep_f32_for_rescore: false,
            },
            Some("int8+f32") => Storage::Int8 {
                keep_f32_for_rescore: true,
            },
            _ => Storage::F32,
        };
        Ok(Index {
            inner: HnswIndex::new(config)?,
        })
    }

    /// Adds a new item; throws if `id` is already present.
    pub fn add(
        &mut self,
        id: &str,
        vector: &[f32],
        #[wasm_bindgen(unchecked_optional_param_type = "Metadata | null")] metadata: JsValue,
    ) -> Result<(), JsError> {
        Ok(self.inner.insert(id, vector, object_metadata(&metadata)?)?)
    }

    /// Adds an item or replaces the vector and metadata of an existing one.
    pub fn upsert(
        &mut self,
        id: &str,
        vector: &[f32],
        #[wasm_bindgen(unchecked_optional_param_type = "Metadata | null")] metadata: JsValue,
    ) -> Result<(), JsError> {
        Ok(self.inner.upsert(id, vector, object_metadata(&metadata)?)?)
    }

    /// Deletes an item; returns whether it was there.
    pub fn remove(&mut self, id: &str) -> Result<bool, JsError> {
        match self.inner.delete(id) {
            Ok(()) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `id` is in the index.
    pub fn has(&self, id: &str) -> bool {
        self.inner.contains(id)
    }

    /// The best `k` items for `query`, best first; with a filter, always min(k, matching) items.
    #[wasm_bindgen(unchecked_return_type = "IndexHit[]")]
    pub fn search(
        &self,
        query: &[f32],
        #[wasm_bindgen(unchecked_optional_param_type = "IndexSearchOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let (k, ef, filter) = if is_absent(&options) {
            (DEFAULT_K, None, None)
        } else {
            let options = Options::read("search options", &options, &["k", "ef", "filter"])?;
            let ef = options.get("ef");
            let filter = options.get("filter");
            (
                optional_whole_number("k", &options.get("k"), DEFAULT_K)?,
                if is_absent(&ef) {
                    None
                } else {
                    Some(optional_whole_number("ef", &ef, 0)?)
                },
                if is_absent(&filter) {
                    None
                } else {
                    Some(parse_filter(&filter)?)
                },
            )
        };
        let options = SearchOptions {
            ef,
            filter: filter.as_ref(),
            ..SearchOptions::default()
        };
        Ok(self
            .inner
            .search(query, k, &options)?
            .iter()
            .map(|hit| {
                let metadata = self.inner.metadata(&hit.id);
                object(&[
                    ("id", JsValue::from_str(&hit.id)),
                    ("score", number_value(hit.score)),
                    ("metadata", json_to_js(metadata)),
                ])
            })
            .collect::<Array>()
            .into())
    }

    /// The index in its versioned, checksummed byte format (for IndexedDB).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes_with(&JsJson)
    }

    /// Loads bytes from `toBytes`; truncated, corrupted or hostile bytes throw.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Index, JsError> {
        Ok(Index {
            inner: HnswIndex::from_bytes_with(bytes, &JsJson)?,
        })
    }

    /// Number of live items.
    #[wasm_bindgen(getter)]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    #[wasm_bindgen(getter)]
    pub fn dims(&self) -> usize {
        self.inner.dims()
    }

    /// Heap bytes the index holds (vectors, graph, ids, metadata).
    #[wasm_bindgen(getter, js_name = memoryBytes)]
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }
}
