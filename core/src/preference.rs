//! Preference learning (DESIGN.md, "Search semantics"): how one watch event moves a user's
//! preference vector, confidence and genre affinities.

use std::collections::{BTreeMap, BTreeSet};

use crate::kernels::{normalize_in_place, FloatText};
use crate::rerank::{about, check_unit_interval, check_vector};
use crate::{Error, Quoted, Result};

/// Confidence of a user with no stored preference. Neutral, so their first event's α is
/// mid-range; that event then moves it as usual (to 0.55 for a strong signal, 0.475 otherwise).
pub const NEW_USER_CONFIDENCE: f32 = 0.5;

/// One watch of one title.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WatchEvent {
    /// Fraction of the title watched, in [0, 1].
    pub completion: f32,
    /// The user's rating in [0, 10], if they gave one.
    #[serde(default)]
    pub rating: Option<f32>,
    /// The user had seen the title before.
    #[serde(default)]
    pub rewatch: bool,
    /// Time spent relative to the runtime. Pauses and rewinds can push it past 1, so any finite
    /// value is accepted and [`signal_strength`] clamps it to [0, 1].
    pub duration_ratio: f32,
}

impl WatchEvent {
    /// Err unless completion is in [0, 1], the rating (if any) in [0, 10], and the duration
    /// ratio finite.
    pub fn validate(&self) -> Result<()> {
        check_unit_interval("completion", self.completion)?;
        if let Some(rating) = self.rating {
            if !(0.0..=10.0).contains(&rating) {
                return Err(Error::InvalidArgument(format!(
                    "rating must be a finite number in [0, 10], got {}",
                    FloatText(f64::from(rating))
                )));
            }
        }
        if !self.duration_ratio.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "duration ratio must be finite, got {}",
                FloatText(f64::from(self.duration_ratio))
            )));
        }
        Ok(())
    }
}

/// How strongly an event says "more like this", in [0, 1]:
/// "signal = min(1, 0.4·completion + (rating/10·0.3, or 0.15 if there is no rating and
/// completion > 0.8) + 0.2·rewatch + 0.1·duration_ratio)".
///
/// Expects a [validated](WatchEvent::validate) event; [`UserPreference::apply_event`] validates.
pub fn signal_strength(event: &WatchEvent) -> f32 {
    let rating_term = match event.rating {
        Some(rating) => rating / 10.0 * 0.3,
        None if event.completion > 0.8 => 0.15,
        None => 0.0,
    };
    let rewatch_term = if event.rewatch { 0.2 } else { 0.0 };
    let sum = 0.4 * event.completion
        + rating_term
        + rewatch_term
        + 0.1 * event.duration_ratio.clamp(0.0, 1.0);
    sum.min(1.0)
}

/// The learning rate: "α = clamp(0.3·(2 − confidence)·(0.5 + 0.5·signal), 0.1, 0.7)".
///
/// A confident user moves less; a strong signal moves more. For confidence and signal in [0, 1]
/// α stays within [0.15, 0.6], so the clamp only guards out-of-range inputs.
pub fn learning_rate(confidence: f32, signal: f32) -> f32 {
    (0.3 * (2.0 - confidence) * (0.5 + 0.5 * signal)).clamp(0.1, 0.7)
}

/// The preference update: "p ← normalize((1 − α)·p + α·e)".
///
/// Err on a dimension mismatch (the message names both lengths), a NaN or infinite component, or
/// α outside [0, 1]. Exactly opposite `p` and `e` at α = 0.5 give the zero vector.
pub fn blend_preference(preference: &[f32], content: &[f32], alpha: f32) -> Result<Vec<f32>> {
    check_vector(preference.len(), preference).map_err(|e| about("preference", e))?;
    check_vector(preference.len(), content).map_err(|e| about("content vector", e))?;
    check_unit_interval("alpha", alpha)?;
    let mut blended: Vec<f32> = preference
        .iter()
        .zip(content)
        .map(|(&p, &e)| (1.0 - alpha) * p + alpha * e)
        .collect();
    normalize_in_place(&mut blended)?;
    Ok(blended)
}

/// The confidence update: "confidence moves up by (1 − c)·0.1 when signal > 0.5, otherwise down
/// by c·0.05, clamped to [0.1, 0.95]".
pub fn update_confidence(confidence: f32, signal: f32) -> f32 {
    let moved = if signal > 0.5 {
        confidence + (1.0 - confidence) * 0.1
    } else {
        confidence - confidence * 0.05
    };
    moved.clamp(0.1, 0.95)
}

/// The genre update: "each genre affinity starts at 0.5 and moves toward 1 (signal > 0.5) or
/// toward 0 at rate 0.1·signal", i.e. a += (target − a)·0.1·signal for each listed genre.
///
/// A genre listed twice moves once: a title is one piece of evidence per genre.
pub fn update_genre_affinities(
    affinities: &mut BTreeMap<String, f32>,
    genres: &[String],
    signal: f32,
) {
    let target = if signal > 0.5 { 1.0 } else { 0.0 };
    let listed: BTreeSet<&String> = genres.iter().collect();
    for genre in listed {
        let affinity = affinities.entry(genre.clone()).or_insert(0.5);
        *affinity += (target - *affinity) * 0.1 * signal;
    }
}

/// What vecgate has learned about one user (the `user_preference_vectors` row).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserPreference {
    /// Unit-length preference vector p.
    pub vector: Vec<f32>,
    /// How settled p is, in [0, 1]; updates keep it in [0.1, 0.95].
    pub confidence: f32,
    /// Genre → affinity in [0, 1].
    #[serde(default)]
    pub genre_affinities: BTreeMap<String, f32>,
}

impl UserPreference {
    /// Err unless the vector is finite and non-empty, and confidence and every affinity are
    /// finite numbers in [0, 1] (a stored value may have been written by hand through the API).
    pub fn validate(&self) -> Result<()> {
        if self.vector.is_empty() {
            return Err(Error::InvalidArgument("preference vector is empty".into()));
        }
        check_vector(self.vector.len(), &self.vector).map_err(|e| about("preference", e))?;
        check_unit_interval("confidence", self.confidence)?;
        for (genre, &affinity) in &self.genre_affinities {
            check_unit_interval("affinity", affinity)
                .map_err(|e| about(format_args!("genre {}", Quoted(genre)), e))?;
        }
        Ok(())
    }

    /// The preference after one watch event, in DESIGN.md's order: signal; α from the previous
    /// confidence; the vector (with no previous preference, the new p is normalize(e)); the
    /// confidence; the genre affinities. A new user starts from [`NEW_USER_CONFIDENCE`].
    ///
    /// Err on an invalid event or stored preference, an empty or non-finite content vector, or a
    /// content vector whose length differs from the stored preference's.
    pub fn apply_event(
        previous: Option<&UserPreference>,
        content_vector: &[f32],
        genres: &[String],
        event: &WatchEvent,
    ) -> Result<UserPreference> {
        event.validate()?;
        if content_vector.is_empty() {
            return Err(Error::InvalidArgument("content vector is empty".into()));
        }
        let signal = signal_strength(event);
        let (vector, confidence, mut genre_affinities) = match previous {
            Some(previous) => {
                previous.validate()?;
                let alpha = learning_rate(previous.confidence, signal);
                let vector = blend_preference(&previous.vector, content_vector, alpha)?;
                let affinities = previous.genre_affinities.clone();
                (vector, previous.confidence, affinities)
            }
            None => {
                check_vector(content_vector.len(), content_vector)
                    .map_err(|e| about("content vector", e))?;
                let mut vector = content_vector.to_vec();
                normalize_in_place(&mut vector)?;
                (vector, NEW_USER_CONFIDENCE, BTreeMap::new())
            }
        };
        let confidence = update_confidence(confidence, signal);
        update_genre_affinities(&mut genre_affinities, genres, signal);
        Ok(UserPreference {
            vector,
            confidence,
            genre_affinities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_vec_close, close};

    fn event(
        completion: f32,
        rating: Option<f32>,
        rewatch: bool,
        duration_ratio: f32,
    ) -> WatchEvent {
        WatchEvent {
            completion,
            rating,
            rewatch,
            duration_ratio,
        }
    }

    fn genres(names: &[&str]) -> Vec<String> {
        names.iter().map(|g| g.to_string()).collect()
    }

    #[test]
    fn signal_strength_matches_hand_values() {
        // 0.4·0.9 + 0.15 (no rating, completion > 0.8) + 0 + 0.1·1.0 = 0.36 + 0.15 + 0.1 = 0.61
        assert!(close(signal_strength(&event(0.9, None, false, 1.0)), 0.61));
        // completion exactly 0.8 gets no bonus: 0.32 + 0 + 0 + 0.05 = 0.37
        assert!(close(signal_strength(&event(0.8, None, false, 0.5)), 0.37));
        // a rating replaces the bonus, even a rating of 0: 0.36 + 0 + 0 + 0.1 = 0.46
        assert!(close(
            signal_strength(&event(0.9, Some(0.0), false, 1.0)),
            0.46
        ));
        // 0.4·0.5 + 7/10·0.3 + 0.2 + 0.1·0.4 = 0.2 + 0.21 + 0.2 + 0.04 = 0.65
        assert!(close(
            signal_strength(&event(0.5, Some(7.0), true, 0.4)),
            0.65
        ));
        // everything maxed, duration 1.5 clamped to 1: 0.4 + 0.3 + 0.2 + 0.1 = 1
        assert!(close(
            signal_strength(&event(1.0, Some(10.0), true, 1.5)),
            1.0
        ));
        // negative duration clamps to 0: 0.4·0.25 = 0.1
        assert!(close(signal_strength(&event(0.25, None, false, -2.0)), 0.1));
    }

    #[test]
    fn learning_rate_matches_hand_values_and_clamps() {
        // 0.3·(2 − 0.5)·(0.5 + 0.5·0.61) = 0.45·0.805 = 0.36225
        assert!(close(learning_rate(0.5, 0.61), 0.36225));
        // extremes of the valid domain stay inside the clamp:
        // 0.3·1.05·0.5 = 0.1575 and 0.3·1.9·1 = 0.57
        assert!(close(learning_rate(0.95, 0.0), 0.1575));
        assert!(close(learning_rate(0.1, 1.0), 0.57));
        // 0.3·3·1 = 0.9 → 0.7; 0.3·0·0.5 = 0 → 0.1
        assert_eq!(learning_rate(-1.0, 1.0), 0.7);
        assert_eq!(learning_rate(2.0, 0.0), 0.1);
    }

    #[test]
    fn blend_preference_matches_hand_values() {
        // normalize(0.5·[1, 0] + 0.5·[0, 1]) = [1/√2, 1/√2]
        let p = blend_preference(&[1.0, 0.0], &[0.0, 1.0], 0.5).unwrap();
        assert_vec_close(&p, &[0.70710677, 0.70710677]);
        // α = 0 keeps p (normalized), α = 1 takes e (normalized)
        assert_vec_close(
            &blend_preference(&[3.0, 4.0], &[0.0, 1.0], 0.0).unwrap(),
            &[0.6, 0.8],
        );
        assert_vec_close(
            &blend_preference(&[1.0, 0.0], &[0.0, 2.0], 1.0).unwrap(),
            &[0.0, 1.0],
        );
    }

    #[test]
    fn blend_preference_rejects_bad_input() {
        let err = blend_preference(&[1.0; 384], &[1.0; 768], 0.5).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("384") && message.contains("768"),
            "{message}"
        );
        let err = blend_preference(&[1.0, 0.0], &[0.0, f32::NAN], 0.5).unwrap_err();
        assert!(err.to_string().contains("content vector"), "{err}");
        for alpha in [-0.1, 1.1, f32::NAN] {
            let err = blend_preference(&[1.0, 0.0], &[0.0, 1.0], alpha).unwrap_err();
            assert!(err.to_string().contains("alpha"), "{err}");
        }
    }

    #[test]
    fn confidence_steps_and_clamps() {
        // up: 0.5 + (1 − 0.5)·0.1 = 0.55; down: 0.5 − 0.5·0.05 = 0.475
        assert!(close(update_confidence(0.5, 0.61), 0.55));
        assert!(close(update_confidence(0.5, 0.3), 0.475));
        // signal exactly 0.5 is not "> 0.5": 0.8 − 0.04 = 0.76
        assert!(close(update_confidence(0.8, 0.5), 0.76));
        // 0.95 + 0.005 = 0.955 → 0.95; 0.1 − 0.005 = 0.095 → 0.1
        assert_eq!(update_confidence(0.95, 1.0), 0.95);
        assert_eq!(update_confidence(0.1, 0.0), 0.1);
    }

    #[test]
    fn genre_affinities_step_toward_target() {
        let mut affinities = BTreeMap::from([("Drama".to_string(), 0.8)]);
        // signal 0.61 > 0.5, target 1, new genre: 0.5 + (1 − 0.5)·0.061 = 0.5305
        update_genre_affinities(&mut affinities, &genres(&["Comedy"]), 0.61);
        assert!(close(affinities["Comedy"], 0.5305));
        assert!(close(affinities["Drama"], 0.8), "unlisted genres stay put");
        // signal 0.3, target 0: 0.8 + (0 − 0.8)·0.03 = 0.776; listed twice, moved once
        update_genre_affinities(&mut affinities, &genres(&["Drama", "Drama"]), 0.3);
        assert!(close(affinities["Drama"], 0.776));
        // signal 0 inserts at 0.5 without moving
        update_genre_affinities(&mut affinities, &genres(&["Horror"]), 0.0);
        assert_eq!(affinities["Horror"], 0.5);
    }

    #[test]
    fn apply_event_for_a_new_user_then_an_existing_one() {
        let first = UserPreference::apply_event(
            None,
            &[3.0, 4.0],
            &genres(&["Drama"]),
            &event(0.9, None, false, 1.0),
        )
        .unwrap();
        // signal 0.61: p = normalize(e) = [0.6, 0.8]; confidence 0.5 → 0.55; Drama 0.5305
        assert_vec_close(&first.vector, &[0.6, 0.8]);
        assert!(close(first.confidence, 0.55));
        assert!(close(first.genre_affinities["Drama"], 0.5305));

        let second = UserPreference::apply_event(
            Some(&first),
            &[0.8, -0.6],
            &genres(&["Drama", "Comedy"]),
            &event(0.3, Some(2.0), false, 0.3),
        )
        .unwrap();
        // signal = 0.12 + 2/10·0.3 + 0 + 0.03 = 0.21
        // α from the previous confidence: 0.3·(2 − 0.55)·(0.5 + 0.105) = 0.263175
        // p = normalize(0.736825·[0.6, 0.8] + 0.263175·[0.8, −0.6])
        //   = normalize([0.652635, 0.431555]) = [0.8341297, 0.5515684]
        assert_vec_close(&second.vector, &[0.8341297, 0.5515684]);
        // 0.55 − 0.55·0.05 = 0.5225
        assert!(close(second.confidence, 0.5225));
        // Drama: 0.5305 − 0.5305·0.021 = 0.5193595; Comedy: 0.5 − 0.5·0.021 = 0.4895
        assert!(close(second.genre_affinities["Drama"], 0.5193595));
        assert!(close(second.genre_affinities["Comedy"], 0.4895));
    }

    #[test]
    fn apply_event_rejects_bad_input() {
        let stored = UserPreference {
            vector: vec![0.6, 0.8],
            confidence: 0.5,
            genre_affinities: BTreeMap::new(),
        };
        let good = event(0.5, None, false, 0.5);
        let apply = |prev: Option<&UserPreference>, v: &[f32], e: &WatchEvent| {
            UserPreference::apply_event(prev, v, &[], e)
                .unwrap_err()
                .to_string()
        };

        let message = apply(Some(&stored), &[1.0, 0.0, 0.0], &good);
        assert!(message.contains('2') && message.contains('3'), "{message}");
        assert!(apply(None, &[], &good).contains("empty"));
        assert!(apply(None, &[1.0, f32::INFINITY], &good).contains("content vector"));
        assert!(apply(None, &[1.0], &event(1.2, None, false, 0.5)).contains("completion"));
        assert!(apply(None, &[1.0], &event(0.5, Some(11.0), false, 0.5)).contains("rating"));
        assert!(apply(None, &[1.0], &event(0.5, Some(f32::NAN), false, 0.5)).contains("rating"));
        assert!(apply(None, &[1.0], &event(0.5, None, false, f32::NAN)).contains("duration"));

        let bad_confidence = UserPreference {
            confidence: 1.5,
            ..stored.clone()
        };
        assert!(apply(Some(&bad_confidence), &[0.0, 1.0], &good).contains("confidence"));
        let bad_affinity = UserPreference {
            genre_affinities: BTreeMap::from([("Drama".to_string(), f32::NAN)]),
            ..stored
        };
        assert!(apply(Some(&bad_affinity), &[0.0, 1.0], &good).contains("Drama"));
    }

    #[test]
    fn serde_round_trip_and_defaults() {
        let e: WatchEvent =
            serde_json::from_str(r#"{"completion": 0.9, "duration_ratio": 1.0}"#).unwrap();
        assert_eq!(e, event(0.9, None, false, 1.0));
        let stored =
            UserPreference::apply_event(None, &[1.0, 0.0], &genres(&["Drama"]), &e).unwrap();
        let json = serde_json::to_string(&stored).unwrap();
        assert!(json.contains("\"genre_affinities\""), "{json}");
        let back: UserPreference = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stored);
    }
}
