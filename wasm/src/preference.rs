//! Preference learning from watch events.

use std::collections::BTreeMap;

use js_sys::Float32Array;
use serde::{Deserialize, Serialize};
use vecgate_core::preference::{UserPreference, WatchEvent};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{from_js, is_absent, number, optional_number, to_js, vector};

#[wasm_bindgen(typescript_custom_section)]
const TS_PREFERENCE: &'static str = r#"
/** One watch of one title. */
export interface WatchEvent {
  /** Fraction of the title watched, in [0, 1]. */
  completion: number;
  /** The user's rating in [0, 10], if given. */
  rating?: number | null;
  /** The user had seen the title before. */
  rewatch?: boolean;
  /** Time spent relative to the runtime (clamped to [0, 1]). */
  durationRatio: number;
}
/** What vecgate has learned about a user. */
export interface UserPreference {
  /** Unit-length preference vector. */
  vector: Float32Array;
  /** How settled the vector is, in [0, 1]. */
  confidence: number;
  /** Genre → affinity in [0, 1]. */
  genreAffinities: Record<string, number>;
}
/** A stored preference, as accepted back by `updatePreference`. */
export interface UserPreferenceInput {
  vector: VectorInput;
  confidence: number;
  genreAffinities?: Record<string, number>;
}
"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreferenceInput {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    vector: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    confidence: JsValue,
    #[serde(default)]
    genre_affinities: BTreeMap<String, f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WatchEventInput {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    completion: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    rating: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    rewatch: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    duration_ratio: JsValue,
}

impl WatchEventInput {
    fn read(self) -> Result<WatchEvent, Error> {
        let rewatch = match self.rewatch.as_bool() {
            Some(rewatch) => rewatch,
            None if is_absent(&self.rewatch) => false,
            None => return Err(Error::InvalidArgument("rewatch must be a boolean".into())),
        };
        Ok(WatchEvent {
            completion: number("completion", &self.completion)? as f32,
            rating: optional_number("rating", &self.rating)?.map(|r| r as f32),
            rewatch,
            duration_ratio: number("durationRatio", &self.duration_ratio)? as f32,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreferenceOutput<'a> {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    vector: Float32Array,
    confidence: f32,
    genre_affinities: &'a BTreeMap<String, f32>,
}

/// The user's preference after one watch event (DESIGN.md): the vector moves toward
/// `contentVector` by a rate that falls with confidence and rises with the event's signal; the
/// confidence and the affinities of `genres` step up or down. `previous` is `null` for a new user.
#[wasm_bindgen(js_name = updatePreference, unchecked_return_type = "UserPreference")]
pub fn update_preference(
    #[wasm_bindgen(unchecked_param_type = "UserPreferenceInput | null | undefined")]
    previous: JsValue,
    content_vector: &[f32],
    #[wasm_bindgen(unchecked_param_type = "string[]")] genres: JsValue,
    #[wasm_bindgen(unchecked_param_type = "WatchEvent")] event: JsValue,
) -> Result<JsValue, JsError> {
    let previous = if is_absent(&previous) {
        None
    } else {
        let input: PreferenceInput = from_js("previous preference", previous)?;
        Some(UserPreference {
            vector: vector("previous preference vector", &input.vector)?,
            confidence: number("confidence", &input.confidence)? as f32,
            genre_affinities: input.genre_affinities,
        })
    };
    let genres: Vec<String> = from_js("genres", genres)?;
    let event = from_js::<WatchEventInput>("watch event", event)?.read()?;
    let updated = UserPreference::apply_event(previous.as_ref(), content_vector, &genres, &event)?;
    to_js(&PreferenceOutput {
        vector: Float32Array::from(updated.vector.as_slice()),
        confidence: updated.confidence,
        genre_affinities: &updated.genre_affinities,
    })
}
