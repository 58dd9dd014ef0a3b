//! The shared movie sample (`../shared/data/movies`) and exact search over it.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use vecgate_core::filter::Filter;
use vecgate_core::kernels::Metric;
use vecgate_core::topk::top_k;

pub struct Movies {
    /// The raw lines, parsed.
    pub items: Vec<Value>,
    pub ids: Vec<String>,
    pub dims: usize,
    /// Row-major, as stored in the file.
    pub matrix: Vec<f32>,
    /// (text, vector) of `queries.jsonl`.
    pub queries: Vec<(String, Vec<f32>)>,
}

/// `$VECGATE_SAMPLE_DIR`, else `<repo>/../shared/data/movies`.
pub fn sample_dir() -> PathBuf {
    std::env::var_os("VECGATE_SAMPLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movies")
        })
}

fn vector(v: &Value) -> Vec<f32> {
    v["vector"]
        .as_array()
        .expect("vector array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn read_jsonl(name: &str) -> Vec<Value> {
    let path = sample_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the sample data {} is needed: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

pub fn movies() -> &'static Movies {
    static MOVIES: OnceLock<Movies> = OnceLock::new();
    MOVIES.get_or_init(|| {
        let items = read_jsonl("movies.jsonl");
        let ids = items
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
        let dims = vector(&items[0]).len();
        let matrix = items.iter().flat_map(vector).collect();
        let queries = read_jsonl("queries.jsonl")
            .iter()
            .map(|q| (q["text"].as_str().expect("text").to_owned(), vector(q)))
            .collect();
        Movies {
            items,
            ids,
            dims,
            matrix,
            queries,
        }
    })
}

impl Movies {
    pub fn query(&self, text: &str) -> &[f32] {
        &self
            .queries
            .iter()
            .find(|(t, _)| t == text)
            .unwrap_or_else(|| panic!("no sample query {text:?}"))
            .1
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.ids.iter().position(|i| i == id).expect("known id")
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.matrix[i * self.dims..(i + 1) * self.dims]
    }

    /// The document a filter sees for item `i`: metadata plus media_type and content_id.
    pub fn filter_doc(&self, i: usize) -> Value {
        let item = &self.items[i];
        let mut doc = item["metadata"].as_object().cloned().unwrap_or_default();
        doc.insert("media_type".into(), item["media_type"].clone());
        doc.insert("content_id".into(), item["content_id"].clone());
        Value::Object(doc)
    }

    /// Exact cosine top-k over the rows matching `filter`, excluding `exclude`: (id, score).
    pub fn exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        exclude: Option<&str>,
    ) -> Vec<(String, f32)> {
        let rows: Vec<usize> = (0..self.ids.len())
            .filter(|&i| filter.is_none_or(|f| f.matches(&self.filter_doc(i))))
            .filter(|&i| exclude != Some(self.ids[i].as_str()))
            .collect();
        let sub: Vec<f32> = rows.iter().flat_map(|&i| self.vector(i).to_vec()).collect();
        top_k(query, &sub, self.dims, Metric::Cosine, k, f32::NEG_INFINITY)
            .expect("valid data")
            .into_iter()
            .map(|s| (self.ids[rows[s.index]].clone(), s.score))
            .collect()
    }

    /// How many items match `filter`.
    pub fn count_matching(&self, filter: &Filter) -> usize {
        (0..self.ids.len())
            .filter(|&i| filter.matches(&self.filter_doc(i)))
            .count()
    }
}
