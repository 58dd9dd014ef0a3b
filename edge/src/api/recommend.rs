//! `POST /v1/recommend`: candidates come from the store's index (one search per probe of the
//! core's objective), and core scores them, as `CandidateSet.recommend` does in the browser.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde_json::json;
use vecgate_core::recommend::{Objective, Recommendation, Strategy};

use super::auth::Caller;
use super::error::ApiError;
use super::recall::RecallWish;
use super::requests::*;
use super::Handler;
use crate::embed::EmbedHost;
use crate::http::{Request, Response};
use crate::store::{Hit, SearchBreadth, SearchLog, SearchQuery, Store};

/// Candidates per probe beyond `k` and the examples. `average` needs none (its score is the
/// search's similarity); `best_score` needs a margin for candidates a negative pushes down; a
/// group's score is not monotone in the distance to its centroid, so it looks wider.
fn probe_size(body: &RecommendBody, k: usize, examples: usize) -> usize {
    let wanted = match (&body.user_ids, body.strategy) {
        (Some(_), _) => (4 * k).max(100),
        (None, Strategy::Average) => k,
        (None, Strategy::BestScore) => 2 * k + 10,
    };
    (wanted + examples).min(MAX_K)
}

impl<S: Store, H: EmbedHost> Handler<S, H> {
    pub(super) async fn recommend(
        &self,
        req: &Request,
        caller: &Caller,
    ) -> Result<Response, ApiError> {
        let start = Instant::now();
        let body: RecommendBody = parse_body(&req.body)?;
        body.check()?;
        let k = check_k(body.k, DEFAULT_K, MAX_K, "k")?;
        let threshold = check_threshold(body.threshold)?;
        let filter = parse_filter(body.filter.as_ref())?;
        let members = body.user_ids.as_deref().unwrap_or_default();
        // A group reads its members' preferences: each must be the caller's to use.
        for user in members {
            caller.act_for(Some(user))?;
        }
        let logged_user = caller.act_for(None)?;

        let positive = self.example_vectors(&body.positive).await?;
        let negative = self.example_vectors(&body.negative).await?;
        let missing: Vec<&String> = body
            .positive
            .iter()
            .zip(&positive)
            .chain(body.negative.iter().zip(&negative))
            .filter_map(|(id, vector)| vector.is_none().then_some(id))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::not_found(format!(
                "no content with ids {missing:?}"
            )));
        }
        let positive: Vec<Vec<f32>> = positive.into_iter().flatten().collect();
        let negative: Vec<Vec<f32>> = negative.into_iter().flatten().collect();

        let mut preferences = Vec::new();
        let mut without_preference = Vec::new();
        for user in members {
            match self.store.get_preference(user).await? {
                Some(p) => preferences.push(p),
                None => without_preference.push(user.clone()),
            }
        }
        if !members.is_empty() && preferences.is_empty() && positive.is_empty() {
            return Err(ApiError::not_found(format!(
                "no member of the group has a preference vector yet: {without_preference:?}"
            )));
        }
        for p in &preferences {
            check_vector("preference vector", &p.vector, self.config.dimensions)?;
        }
        let objective = Objective::new(&Recommendation {
            positive: positive.iter().map(Vec::as_slice).collect(),
            negative: negative.iter().map(Vec::as_slice).collect(),
            strategy: body.strategy,
            members: preferences
                .iter()
                .map(|p| (p.vector.as_slice(), p.confidence))
                .collect(),
        })?;

        let examples: HashSet<&str> = body
            .positive
            .iter()
            .chain(&body.negative)
            .map(String::as_str)
            .collect();
        let include_metadata = body.include.contains(&Include::Metadata);
        let size = probe_size(&body, k, examples.len());
        // By id, so that equal scores rank by id as a single search does.
        let mut candidates: BTreeMap<String, Hit> = BTreeMap::new();
        let mut store_ms = 0.0;
        for probe in objective.probes() {
            let query = SearchQuery {
                vector: probe.to_vec(),
                k: size,
                threshold: None,
                filter: filter.clone(),
                exclude_id: None,
                include_metadata,
                include_vector: true,
                log: None,
                breadth: SearchBreadth::Backend,
                deadline: self.deadline(),
            };
            let outcome = self.run_search(query, RecallWish::Target, start).await?;
            store_ms += outcome.store_ms;
            for hit in outcome.hits {
                if !examples.contains(hit.id.as_str()) {
                    candidates.entry(hit.id.clone()).or_insert(hit);
                }
            }
        }
        let candidates: Vec<Hit> = candidates.into_values().collect();
        let ranked = objective.rank(
            candidates
                .iter()
                .enumerate()
                .map(|(i, hit)| (i, hit.vector.as_deref().unwrap_or_default())),
            k,
            threshold,
        )?;
        let include_vector = body.include.contains(&Include::Vector);
        let results: Vec<Hit> = ranked
            .iter()
            .map(|scored| {
                let hit = &candidates[scored.index];
                Hit {
                    id: hit.id.clone(),
                    score: scored.score,
                    metadata: hit.metadata.clone(),
                    vector: hit.vector.clone().filter(|_| include_vector),
                }
            })
            .collect();

        let logged = SearchQuery {
            vector: objective.query().to_vec(),
            k,
            threshold,
            filter,
            exclude_id: None,
            include_metadata,
            include_vector,
            log: Some(SearchLog {
                user_id: logged_user,
                search_type: "recommend",
                filter: body.filter,
                // A group's query is made of its members' preferences: never logged.
                query_vector: members.is_empty().then(|| objective.query().to_vec()),
            }),
            breadth: SearchBreadth::Backend,
            deadline: self.deadline(),
        };
        self.store.log_search(&logged, &results, store_ms).await?;
        let mut reply = json!({
            "results": results,
            "took_ms": start.elapsed().as_secs_f64() * 1e3,
        });
        if body.user_ids.is_some() {
            reply["members_without_preference"] = json!(without_preference);
        }
        Ok(Response::json(200, &reply))
    }

    /// Each example's stored vector, `None` for an unknown id.
    async fn example_vectors(&self, ids: &[String]) -> Result<Vec<Option<Vec<f32>>>, ApiError> {
        let mut vectors = Vec::with_capacity(ids.len());
        for id in ids {
            let vector = match self.store.get(id).await? {
                Some(item) => Some(check_vector(
                    "stored vector",
                    &item.vector,
                    self.config.dimensions,
                )?),
                None => None,
            };
            vectors.push(vector);
        }
        Ok(vectors)
    }
}
