//! `POST /v1/recommend` on every backend: examples, sequels pushed down by a negative, groups
//! scored by the DESIGN.md formula, the preference rule, and parity with `CandidateSet`.

use serde_json::{json, Value};
use vecgate_core::candidates::{CandidateRecommend, CandidateSet, Encoding};
use vecgate_core::preference::UserPreference;
use vecgate_core::recommend::{Objective, Recommendation, Strategy};

use super::{assert_error, ids, scores, title_ids, Api, Target, ADMIN_KEY, READ_KEY, USER7_KEY};
use crate::data::{movies, Movies};

fn recommend(api: &Api, key: &str, body: &Value) -> (u16, Value) {
    api.call("POST", "/v1/recommend", Some(key), Some(body))
}

fn ok(api: &Api, key: &str, body: Value) -> Value {
    let (status, v) = recommend(api, key, &body);
    assert_eq!(status, 200, "recommend {body}: {v}");
    v
}

fn id_of(m: &Movies, title: &str) -> String {
    title_ids(m, title)
        .into_iter()
        .find(|id| m.items[m.index_of(id)]["metadata"]["title"] == title)
        .unwrap_or_else(|| panic!("no film titled {title:?}"))
}

/// The best `k` over the whole sample but the examples, by the core objective: the exhaustive
/// reference for what the server finds through its index.
fn exhaustive(m: &Movies, objective: &Objective, examples: &[&str], k: usize) -> Vec<String> {
    let rows = (0..m.ids.len())
        .filter(|&i| !examples.contains(&m.ids[i].as_str()))
        .map(|i| (i, m.vector(i)));
    objective
        .rank(rows, k, None)
        .unwrap()
        .into_iter()
        .map(|s| m.ids[s.index].clone())
        .collect()
}

/// Every returned score is the objective's score of that item's vector, best first.
fn assert_scored_by(m: &Movies, objective: &Objective, reply: &Value, context: &str) {
    let got = scores(reply);
    for (id, score) in ids(reply).iter().zip(&got) {
        let expected = objective.score(m.vector(m.index_of(id)));
        assert!(
            (*score as f32 - expected).abs() < 1e-5,
            "{context}: {id} scored {score}, the formula gives {expected}"
        );
    }
    assert!(
        got.windows(2).all(|w| w[0] >= w[1]),
        "{context}: not best first: {got:?}"
    );
}

pub(super) fn examples(api: &Api, _: &Target) {
    let m = movies();
    let toy_story = id_of(m, "Toy Story");
    let sequel = id_of(m, "Toy Story 2");
    let third = id_of(m, "Toy Story 3");
    for strategy in [Strategy::Average, Strategy::BestScore] {
        let name = strategy.name();
        let plain = ok(
            api,
            READ_KEY,
            json!({"positive": [toy_story], "strategy": name, "k": 10, "include": ["metadata"]}),
        );
        let got = ids(&plain);
        assert_eq!(got.len(), 10, "{name}: {plain}");
        assert!(!got.contains(&toy_story), "{name}: the example came back");
        assert!(
            got[..3].contains(&sequel) && got[..3].contains(&third),
            "{name}: both sequels lead: {got:?}"
        );
        assert!(plain["results"][0]["metadata"]["title"].is_string());
        let positive = m.vector(m.index_of(&toy_story));
        let objective = Objective::new(&Recommendation {
            positive: vec![positive],
            strategy,
            ..Default::default()
        })
        .unwrap();
        assert_scored_by(m, &objective, &plain, name);
        let reference = exhaustive(m, &objective, &[&toy_story], 10);
        let shared = got.iter().filter(|id| reference.contains(id)).count();
        assert!(shared >= 9, "{name}: {got:?} vs exhaustive {reference:?}");

        // A negative sequel pushes its near-duplicate, the third film, out of the top 10.
        let steered = ok(
            api,
            READ_KEY,
            json!({"positive": [toy_story], "negative": [sequel], "strategy": name, "k": 10}),
        );
        let got = ids(&steered);
        assert_eq!(got.len(), 10, "{name}: {steered}");
        assert!(
            !got.contains(&toy_story) && !got.contains(&sequel),
            "{name}: an example came back: {got:?}"
        );
        assert!(
            !got.contains(&third),
            "{name}: the negative did not push Toy Story 3 down: {got:?}"
        );
        let objective = Objective::new(&Recommendation {
            positive: vec![positive],
            negative: vec![m.vector(m.index_of(&sequel))],
            strategy,
            ..Default::default()
        })
        .unwrap();
        assert_scored_by(m, &objective, &steered, name);
    }

    // A filter and a threshold hold for every result.
    let filtered = ok(
        api,
        READ_KEY,
        json!({"positive": [toy_story], "k": 5, "threshold": 0.3,
               "filter": {"year": {"$gte": 2000}}, "include": ["metadata"]}),
    );
    for hit in filtered["results"].as_array().unwrap() {
        assert!(hit["metadata"]["year"].as_i64() >= Some(2000), "{hit}");
        assert!(hit["score"].as_f64() >= Some(0.3), "{hit}");
    }

    let (status, v) = recommend(
        api,
        READ_KEY,
        &json!({"positive": [toy_story, "no-such-film"], "negative": ["gone-too"]}),
    );
    assert_error(status, &v, 404, "unknown example ids");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no-such-film") && message.contains("gone-too"),
        "the 404 names every unknown id: {message}"
    );
    let too_many: Vec<String> = m.ids[..33].to_vec();
    for (body, context) in [
        (json!({"k": 5}), "no positive"),
        (json!({"positive": []}), "empty positive"),
        (json!({"positive": too_many}), "33 positives"),
        (
            json!({"positive": [toy_story], "negative": [toy_story]}),
            "an id both positive and negative",
        ),
        (
            json!({"positive": [toy_story], "strategy": "median"}),
            "unknown strategy",
        ),
        (json!({"positive": [toy_story], "k": 0}), "k 0"),
        (
            json!({"positive": [toy_story], "threshold": 2}),
            "threshold 2",
        ),
        (
            json!({"positive": [toy_story], "vector": [1.0]}),
            "unknown field",
        ),
        (
            json!({"positive": [toy_story], "user_ids": null}),
            "null user_ids",
        ),
    ] {
        let (status, v) = recommend(api, READ_KEY, &body);
        assert_error(status, &v, 400, context);
    }
}

pub(super) fn groups(api: &Api, target: &Target) {
    let m = movies();
    let members = [
        ("group-kid", id_of(m, "Toy Story"), 0.9f32),
        ("group-fan", id_of(m, "The Godfather"), 0.4),
        ("group-new", id_of(m, "Alien"), 0.7),
    ];
    for (user, film, confidence) in &members {
        let pref = UserPreference {
            vector: m.vector(m.index_of(film)).to_vec(),
            confidence: *confidence,
            genre_affinities: Default::default(),
        };
        let (status, v) = api.call(
            "PUT",
            &format!("/v1/users/{user}/preference"),
            Some(ADMIN_KEY),
            Some(&serde_json::to_value(&pref).unwrap()),
        );
        assert_eq!(status, 200, "{v}");
    }
    let before = (target.logs)().len();
    let reply = ok(
        api,
        ADMIN_KEY,
        json!({"user_ids": ["group-kid", "group-fan", "group-nobody"], "k": 10}),
    );
    let logs = (target.logs)();
    assert_eq!(logs.len(), before + 1, "one log row per recommendation");
    let last = logs.last().unwrap();
    assert_eq!(last.search_type, "recommend");
    assert_eq!(last.result_ids, ids(&reply));
    assert_eq!(
        reply["members_without_preference"],
        json!(["group-nobody"]),
        "{reply}"
    );
    let group: Vec<(&[f32], f32)> = members[..2]
        .iter()
        .map(|(_, film, c)| (m.vector(m.index_of(film)), *c))
        .collect();
    let objective = Objective::new(&Recommendation {
        members: group.clone(),
        ..Default::default()
    })
    .unwrap();
    // The formula, computed here: 0.6·min + 0.4·mean of the members' cosine.
    for (id, score) in ids(&reply).iter().zip(scores(&reply)) {
        let v = m.vector(m.index_of(id));
        let satisfactions: Vec<f32> = group
            .iter()
            .map(|(p, _)| vecgate_core::kernels::cosine(v, p).unwrap())
            .collect();
        let min = satisfactions.iter().copied().fold(f32::INFINITY, f32::min);
        let mean = satisfactions.iter().sum::<f32>() / satisfactions.len() as f32;
        assert!(
            (score as f32 - (0.6 * min + 0.4 * mean)).abs() < 1e-5,
            "{id}: {score} is not 0.6·{min} + 0.4·{mean}"
        );
    }
    assert_scored_by(m, &objective, &reply, "group");
    let reference = exhaustive(m, &objective, &[], 10);
    let got = ids(&reply);
    let shared = got.iter().filter(|id| reference.contains(id)).count();
    assert!(shared >= 9, "group: {got:?} vs exhaustive {reference:?}");

    // With a positive example: it joins the group and never comes back.
    let alien = &members[2].1;
    let with_example = ok(
        api,
        ADMIN_KEY,
        json!({"user_ids": ["group-kid", "group-fan"], "positive": [alien], "k": 5}),
    );
    assert_eq!(with_example["members_without_preference"], json!([]));
    assert!(!ids(&with_example).contains(alien));

    // The preference rule: an admin key, or every member's own key.
    let body = json!({"user_ids": ["group-kid", "group-fan"]});
    let (status, v) = recommend(api, READ_KEY, &body);
    assert_error(status, &v, 403, "a read key reads no one's preference");
    let (status, v) = recommend(
        api,
        USER7_KEY,
        &json!({"user_ids": ["user-7", "group-kid"]}),
    );
    assert_error(
        status,
        &v,
        403,
        "user-7's key reads another member's preference",
    );
    for (body, context) in [
        (json!({"user_ids": ["group-kid"]}), "a group of one"),
        (json!({"user_ids": ["a", "a"]}), "a member listed twice"),
        (
            json!({"user_ids": ["group-kid", "group-fan"], "strategy": "best_score"}),
            "best_score with a group",
        ),
    ] {
        let (status, v) = recommend(api, ADMIN_KEY, &body);
        assert_error(status, &v, 400, context);
    }
    let (status, v) = recommend(
        api,
        ADMIN_KEY,
        &json!({"user_ids": ["group-nobody", "group-nobody-2"]}),
    );
    assert_error(status, &v, 404, "no member has a preference");
}

/// The server and a `CandidateSet` of the same candidates rank alike (the browser's path).
pub(super) fn parity_with_candidate_sets(api: &Api, _: &Target) {
    let m = movies();
    let positive = id_of(m, "Shrek");
    let negative = id_of(m, "Shrek 2");
    for strategy in ["average", "best_score"] {
        let reply = ok(
            api,
            READ_KEY,
            json!({"positive": [positive], "negative": [negative], "strategy": strategy,
                   "k": 20, "include": ["vector"]}),
        );
        let mut set = CandidateSet::new(m.dims, Encoding::F32).unwrap();
        for example in [&positive, &negative] {
            let (status, item) = api.call(
                "GET",
                &format!("/v1/content/{example}"),
                Some(READ_KEY),
                None,
            );
            assert_eq!(status, 200, "{item}");
            let vector: Vec<f32> = serde_json::from_value(item["vector"].clone()).unwrap();
            set.push(example, &vector, None).unwrap();
        }
        // The server's results, pushed in reverse so that order is the set's own work.
        for hit in reply["results"].as_array().unwrap().iter().rev() {
            let vector: Vec<f32> = serde_json::from_value(hit["vector"].clone()).unwrap();
            set.push(hit["id"].as_str().unwrap(), &vector, None)
                .unwrap();
        }
        let local = set
            .recommend(&CandidateRecommend {
                positive: &[&positive],
                negative: &[&negative],
                strategy: serde_json::from_value(json!(strategy)).unwrap(),
                members: &[],
                k: 20,
                threshold: None,
                filter: None,
            })
            .unwrap();
        let local_ids: Vec<&str> = local.iter().map(|s| set.ids()[s.index].as_str()).collect();
        assert_eq!(
            local_ids,
            ids(&reply),
            "{strategy}: the browser's order differs"
        );
        for (s, server) in local.iter().zip(scores(&reply)) {
            assert!((s.score - server as f32).abs() < 1e-6, "{strategy}");
        }
    }
}
