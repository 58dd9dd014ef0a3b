//! Preference learning from watch events.

use std::collections::BTreeMap;

use js_sys::Float32Array;
use vecgate_core::preference::{UserPreference, WatchEvent};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{
    is_absent, number, number_value, object, optional_number, strings, vector, Options,
};

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

/// A watch event from `{ completion, rating?, rewatch?, durationRatio }`.
fn watch_event(value: &JsValue) -> Result<WatchEvent, Error> {
    let event = Options::read(
        "watch event",
        value,
        &["completion", "rating", "rewatch", "durationRatio"],
    )?;
    let rewatch = event.get("rewatch");
    let rewatch = match rewatch.as_bool() {
        Some(rewatch) => rewatch,
        None if is_absent(&rewatch) => false,
        None => return Err(Error::InvalidArgument("rewatch must be a boolean".into())),
    };
    Ok(WatchEvent {
        completion: number("completion", &event.required("completion")?)? as f32,
        rating: optional_number("rating", &event.get("rating"))?.map(|r| r as f32),
        rewatch,
        duration_ratio: number("durationRatio", &event.required("durationRatio")?)? as f32,
    })
}

/// A stored preference from `{ vector, confidence, genreAffinities? }`.
fn stored_preference(value: &JsValue) -> Result<UserPreference, Error> {
    let input = Options::read(
        "previous preference",
        value,
        &["vector", "confidence", "genreAffinities"],
    )?;
    let affinities = input.get("genreAffinities");
    let mut genre_affinities = BTreeMap::new();
    if !is_absent(&affinities) {
        for (genre, affinity) in Options::any_keys("genreAffinities", &affinities)?.entries() {
            let affinity = number(&format!("genreAffinities.{genre}"), &affinity)?;
            genre_affinities.insert(genre, affinity as f32);
        }
    }
    Ok(UserPreference {
        vector: vector("previous preference vector", &input.required("vector")?)?,
        confidence: number("confidence", &input.required("confidence")?)? as f32,
        genre_affinities,
    })
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
        Some(stored_preference(&previous)?)
    };
    let genres = strings("genres", &genres)?;
    let event = watch_event(&event)?;
    let updated = UserPreference::apply_event(previous.as_ref(), content_vector, &genres, &event)?;
    let affinities: Vec<(&str, JsValue)> = updated
        .genre_affinities
        .iter()
        .map(|(genre, affinity)| (genre.as_str(), number_value(*affinity)))
        .collect();
    Ok(object(&[
        (
            "vector",
            Float32Array::from(updated.vector.as_slice()).into(),
        ),
        ("confidence", number_value(updated.confidence)),
        ("genreAffinities", object(&affinities)),
    ]))
}
