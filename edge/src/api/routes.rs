//! One method per endpoint. Each validates its input, calls the store, and shapes the answer.

use std::time::Instant;

use serde_json::json;
use vecgate_core::candidates::CandidateSet;
use vecgate_core::preference::UserPreference;
use vecgate_core::rerank::personalize;

use super::auth::Caller;
use super::error::ApiError;
use super::recall::RecallWish;
use super::requests::*;
use super::Handler;
use crate::embed::EmbedHost;
use crate::http::{Request, Response};
use crate::store::{SearchBreadth, SearchLog, SearchOutcome, SearchQuery, Store};

type Reply = Result<Response, ApiError>;

impl<S: Store, H: EmbedHost> Handler<S, H> {
    /// ok, or degraded with our own reason: never the driver's words.
    pub(super) async fn health(&self) -> Reply {
        match self.store.health().await {
            Ok(()) => Ok(Response::json(200, &json!({"status": "ok"}))),
            Err(e) => {
                let e = ApiError::from(e);
                if let Some(detail) = &e.detail {
                    eprintln!("vecgate: /health degraded: {detail}");
                }
                Ok(Response::json(
                    503,
                    &json!({"status": "degraded", "error": {"code": e.code, "message": e.message}}),
                ))
            }
        }
    }

    pub(super) async fn stats(&self) -> Reply {
        let mut stats = serde_json::to_value(self.store.stats().await?)
            .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
        stats["recall"] = self.recall.stats();
        Ok(Response::json(200, &stats))
    }

    /// The query vector of a search: given, or embedded from text.
    async fn query_vector(&self, source: QuerySource) -> Result<Vec<f32>, ApiError> {
        match source {
            QuerySource::Vector(v) => Ok(v),
            QuerySource::Text(t) => Ok(self.embedder.embed(&t).await.inspect_err(|_| {
                self.metrics.record_embedding_error();
            })?),
        }
    }

    /// `query` moved toward the (authorized) user's preference.
    async fn personalized(&self, query: &[f32], user: Option<&str>) -> Result<Vec<f32>, ApiError> {
        let user = user.ok_or_else(|| ApiError::bad_request("personalize needs user_id"))?;
        match self.store.get_preference(user).await? {
            Some(p) => Ok(personalize(query, &p.vector, p.confidence)?),
            None => Ok(query.to_vec()),
        }
    }

    /// Runs `query` at the breadth its class and `wish` call for; an exact search is not
    /// offered to the recall monitor (its recall is 1 by construction).
    pub(super) async fn run_search(
        &self,
        mut query: SearchQuery,
        wish: RecallWish,
        start: Instant,
    ) -> Result<SearchOutcome, ApiError> {
        let plan = self.recall.plan(query.k, query.filter.is_some(), wish);
        query.breadth = plan.breadth;
        let outcome = self.store.search(&query).await?;
        if plan.breadth != SearchBreadth::Exact {
            self.recall.offer(&query, &outcome.hits, plan.class_ef);
        }
        self.metrics.record_search(
            start.elapsed().as_secs_f64(),
            outcome.store_ms / 1e3,
            outcome.path.label(),
        );
        Ok(outcome)
    }

    pub(super) async fn search(&self, req: &Request, caller: &Caller) -> Reply {
        let start = Instant::now();
        let body: SearchBody = parse_body(&req.body)?;
        let k = check_k(body.k, DEFAULT_K, MAX_K, "k")?;
        let threshold = check_threshold(body.threshold)?;
        let filter = parse_filter(body.filter.as_ref())?;
        let wish = check_recall_wish(body.min_recall, body.exact)?;
        if let Some(u) = &body.user_id {
            check_id("user_id", u)?;
        }
        let user = caller.act_for(body.user_id.as_deref())?;
        let search_type = if body.text.is_some() {
            "text"
        } else {
            "vector"
        };
        let source = query_source(body.vector, body.text, self.config.dimensions)?;
        let asked = self.query_vector(source).await?;
        let vector = if body.personalize {
            self.personalized(&asked, user.as_deref()).await?
        } else {
            asked.clone()
        };
        let query = SearchQuery {
            vector,
            k,
            threshold,
            filter,
            exclude_id: None,
            include_metadata: body.include.contains(&Include::Metadata),
            include_vector: body.include.contains(&Include::Vector),
            log: Some(SearchLog {
                user_id: user,
                search_type,
                filter: body.filter,
                query_vector: Some(asked),
            }),
            breadth: SearchBreadth::Backend,
            deadline: self.deadline(),
        };
        let outcome = self.run_search(query, wish, start).await?;
        Ok(Response::json(
            200,
            &json!({"results": outcome.hits, "took_ms": start.elapsed().as_secs_f64() * 1e3}),
        ))
    }

    pub(super) async fn embed(&self, req: &Request) -> Reply {
        let start = Instant::now();
        let body: EmbedBody = parse_body(&req.body)?;
        body.check()?;
        let vectors = self
            .embedder
            .embed_many(&body.texts)
            .await
            .inspect_err(|_| self.metrics.record_embedding_error())?;
        Ok(Response::json(
            200,
            &json!({
                "vectors": vectors,
                "dimensions": self.config.dimensions,
                "took_ms": start.elapsed().as_secs_f64() * 1e3,
            }),
        ))
    }

    pub(super) async fn similar(&self, req: &Request, id: &str, caller: &Caller) -> Reply {
        let start = Instant::now();
        let k = check_k(query_int(req, "k")?, DEFAULT_K, MAX_K, "k")?;
        let threshold = check_threshold(query_f64(req, "threshold")?)?;
        let filter_json = query_filter(req)?;
        let filter = parse_filter(filter_json.as_ref())?;
        let asked = req.query_param("user_id");
        if let Some(u) = &asked {
            check_id("user_id", u)?;
        }
        let user_id = caller.act_for(asked.as_deref())?;
        let item = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no content with id {id:?}")))?;
        let query = SearchQuery {
            vector: check_vector("stored vector", &item.vector, self.config.dimensions)?,
            k,
            threshold,
            filter,
            exclude_id: Some(item.id),
            include_metadata: true,
            include_vector: false,
            log: Some(SearchLog {
                user_id,
                search_type: "similar",
                filter: filter_json,
                query_vector: Some(item.vector.clone()),
            }),
            breadth: SearchBreadth::Backend,
            deadline: self.deadline(),
        };
        let outcome = self.run_search(query, RecallWish::Target, start).await?;
        Ok(Response::json(
            200,
            &json!({"results": outcome.hits, "took_ms": start.elapsed().as_secs_f64() * 1e3}),
        ))
    }

    pub(super) async fn candidates(&self, req: &Request, caller: &Caller) -> Reply {
        let start = Instant::now();
        let body: CandidatesBody = parse_body(&req.body)?;
        let n = check_k(body.n, DEFAULT_CANDIDATES, MAX_CANDIDATES, "n")?;
        let filter = parse_filter(body.filter.as_ref())?;
        if let Some(u) = &body.user_id {
            check_id("user_id", u)?;
        }
        let user = caller.act_for(body.user_id.as_deref())?;
        let (vector, logged_vector) = match (body.vector, body.text, &body.user_id) {
            (None, None, Some(_)) => {
                let user = user.as_deref().unwrap_or_default();
                let pref =
                    self.store.get_preference(user).await?.ok_or_else(|| {
                        ApiError::not_found("this user has no preference vector yet")
                    })?;
                let vector =
                    check_vector("preference vector", &pref.vector, self.config.dimensions)?;
                // A preference is never written to the search log.
                (vector, None)
            }
            (vector, text, _) => {
                let source = query_source(vector, text, self.config.dimensions)?;
                let vector = self.query_vector(source).await?;
                (vector.clone(), Some(vector))
            }
        };
        let query = SearchQuery {
            vector,
            k: n,
            threshold: None,
            filter,
            exclude_id: None,
            include_metadata: true,
            include_vector: true,
            log: Some(SearchLog {
                user_id: user,
                search_type: "candidates",
                filter: body.filter,
                query_vector: logged_vector,
            }),
            breadth: SearchBreadth::Backend,
            deadline: self.deadline(),
        };
        let outcome = self.run_search(query, RecallWish::Target, start).await?;
        let mut set = CandidateSet::new(self.config.dimensions, body.encoding)?;
        for hit in &outcome.hits {
            let vector = hit.vector.as_deref().unwrap_or_default();
            set.push(&hit.id, vector, hit.metadata.clone())
                .map_err(|e| {
                    crate::store::StoreError::Internal(format!("candidate {}: {e}", hit.id))
                })?;
        }
        let bytes = set.to_bytes();
        let etag = format!(
            "\"{:08x}-{:x}\"",
            vecgate_core::checksum::crc32(&bytes),
            bytes.len()
        );
        let not_modified = req
            .header("if-none-match")
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let response = if not_modified {
            Response::bytes(304, "application/vnd.vecgate.candidates", Vec::new())
        } else {
            Response::bytes(200, "application/vnd.vecgate.candidates", bytes)
        };
        Ok(response
            .with_header("etag", etag)
            .with_header("cache-control", "private, max-age=300")
            .with_header("x-vecgate-count", set.len().to_string()))
    }

    pub(super) async fn get_content(&self, id: &str) -> Reply {
        let item = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no content with id {id:?}")))?;
        Ok(Response::json(200, &item))
    }

    pub(super) async fn delete_content(&self, id: &str) -> Reply {
        if !self.store.delete(id).await? {
            return Err(ApiError::not_found(format!("no content with id {id:?}")));
        }
        Ok(Response::json(200, &json!({"deleted": id})))
    }

    pub(super) async fn upsert_content(&self, req: &Request) -> Reply {
        let mut body: UpsertBody = parse_body(&req.body)?;
        check_items(&mut body.items, self.config.dimensions)?;
        let n = self.store.upsert(&body.items).await?;
        Ok(Response::json(200, &json!({"upserted": n})))
    }

    pub(super) async fn get_preference(&self, user: &str) -> Reply {
        let pref = self
            .store
            .get_preference(user)
            .await?
            .ok_or_else(|| ApiError::not_found("this user has no preference vector"))?;
        Ok(Response::json(200, &pref))
    }

    /// `DELETE /v1/users/{id}`: the preference and the user's search-log rows, everywhere.
    pub(super) async fn erase_user(&self, user: &str) -> Reply {
        let erased = self.store.erase_user(user).await?;
        Ok(Response::json(
            200,
            &json!({"user_id": user, "deleted": erased}),
        ))
    }

    pub(super) async fn put_preference(&self, req: &Request, user: &str) -> Reply {
        let mut pref: UserPreference = parse_body(&req.body)?;
        check_preference(&pref, self.config.dimensions)?;
        pref.vector = check_vector("vector", &pref.vector, self.config.dimensions)?;
        self.store.put_preference(user, &pref).await?;
        Ok(Response::json(200, &pref))
    }

    pub(super) async fn record_event(&self, req: &Request, user: &str) -> Reply {
        let body: EventBody = parse_body(&req.body)?;
        check_id("content_id", &body.content_id)?;
        let event = body.event()?;
        let pref = self
            .store
            .record_event(user, &body.content_id, &event)
            .await?;
        Ok(Response::json(200, &pref))
    }
}
