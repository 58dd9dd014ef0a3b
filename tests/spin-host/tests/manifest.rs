//! `spin.toml` against the component: what the test host cannot check by running it (Spin's
//! routing, variables and outbound-host rules), checked by reading the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::{Table, Value};
use url::Url;
use vecgate_edge::config::{NAMES, SECRET_NAMES};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest() -> Table {
    let path = root().join("spin.toml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()))
}

fn table<'a>(value: &'a Value, what: &str) -> &'a Table {
    value
        .as_table()
        .unwrap_or_else(|| panic!("{what} is not a table"))
}

fn component(manifest: &Table) -> &Table {
    table(&manifest["component"]["vecgate"], "[component.vecgate]")
}

/// The variable names a Spin template mentions: `{{ name }}` → `name`.
fn template_names(template: &str) -> Vec<String> {
    template
        .split("{{")
        .skip(1)
        .map(|rest| {
            let (name, _) = rest
                .split_once("}}")
                .unwrap_or_else(|| panic!("unclosed template in {template:?}"));
            name.trim().to_owned()
        })
        .collect()
}

/// Fills `{{ name }}` templates from `values`.
fn render(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = template.to_owned();
    for name in template_names(template) {
        let value = values
            .get(&name)
            .unwrap_or_else(|| panic!("no value for {{{{ {name} }}}} in {template:?}"));
        out = out
            .replace(&format!("{{{{ {name} }}}}"), value)
            .replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// Spin's `allowed_outbound_hosts` rule for one entry `scheme://host[:port]`: the scheme and
/// host match exactly or by `*` (`*.suffix` for subdomains), and the port matches, where an
/// entry without one stands for the scheme's default port.
fn allows(entry: &str, url: &Url) -> bool {
    let (scheme, authority) = entry
        .split_once("://")
        .unwrap_or_else(|| panic!("allowed_outbound_hosts entry {entry:?} has no scheme"));
    assert!(
        !authority.contains('/'),
        "allowed_outbound_hosts entry {entry:?} must not have a path"
    );
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let default_port = |scheme: &str| match scheme {
        "postgres" => Some(5432),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let url_port = url.port().or_else(|| default_port(url.scheme()));
    let scheme_ok = scheme == "*" || scheme == url.scheme();
    let url_host = url.host_str().unwrap_or_default();
    let host_ok = host == "*"
        || host == url_host
        || host
            .strip_prefix("*.")
            .is_some_and(|suffix| url_host.ends_with(&format!(".{suffix}")));
    let port_ok = match port {
        Some("*") => true,
        Some(p) => p.parse::<u16>().ok() == url_port,
        None => default_port(scheme) == url_port,
    };
    scheme_ok && host_ok && port_ok
}

/// The application variables' values a deployment gives, on top of the manifest's defaults.
fn deployment(manifest: &Table, settings: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = table(&manifest["variables"], "[variables]")
        .iter()
        .filter_map(|(name, v)| Some((name.clone(), v.get("default")?.as_str()?.to_owned())))
        .collect();
    values.extend(
        settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    values
}

/// Every URL the component would dial with these values: the databases and the embeddings.
fn dialled_urls(values: &BTreeMap<String, String>) -> Vec<Url> {
    let mut urls = vec![values["database_url"].clone()];
    urls.extend(
        values["database_read_urls"]
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
    );
    if !values["embedding_url"].is_empty() {
        urls.push(values["embedding_url"].clone());
    }
    urls.iter()
        .map(|u| Url::parse(u).unwrap_or_else(|e| panic!("{u}: {e}")))
        .collect()
}

fn uncovered(manifest: &Table, values: &BTreeMap<String, String>) -> Vec<String> {
    let entries: Vec<String> = component(manifest)["allowed_outbound_hosts"]
        .as_array()
        .expect("allowed_outbound_hosts is a list")
        .iter()
        .map(|e| render(e.as_str().expect("a string entry"), values))
        .collect();
    dialled_urls(values)
        .into_iter()
        .filter(|url| !entries.iter().any(|e| allows(e, url)))
        // Scheme, host and port only: the URL's user and password stay out of messages.
        .map(|url| match url.port() {
            Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or("")),
            None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
        })
        .collect()
}

#[test]
fn every_name_the_code_reads_is_a_component_variable_from_an_application_variable() {
    let manifest = manifest();
    let application = table(&manifest["variables"], "[variables]");
    let variables = table(
        &component(&manifest)["variables"],
        "[component.vecgate.variables]",
    );
    let declared: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
    let read: BTreeSet<&str> = NAMES.iter().copied().collect();
    assert_eq!(
        declared, read,
        "component variables vs vecgate_edge::config::NAMES"
    );
    for (name, template) in variables {
        let template = template.as_str().expect("a string template");
        assert_eq!(
            template_names(template),
            std::slice::from_ref(name),
            "component variable {name} should be {{{{ {name} }}}}"
        );
        assert!(
            application.contains_key(name),
            "no application variable {name}"
        );
    }
    for (name, spec) in application {
        let required = spec.get("required").and_then(Value::as_bool) == Some(true);
        let default = spec.get("default").is_some();
        assert!(
            required != default,
            "application variable {name} needs either required = true or a default, not both"
        );
    }
}

#[test]
fn secrets_are_marked_secret() {
    let manifest = manifest();
    let application = table(&manifest["variables"], "[variables]");
    for name in SECRET_NAMES {
        assert_eq!(
            application[*name].get("secret").and_then(Value::as_bool),
            Some(true),
            "{name} holds a secret and must be declared with secret = true"
        );
    }
}

#[test]
fn the_route_covers_every_api_path() {
    let manifest = manifest();
    let triggers = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]");
    assert_eq!(triggers.len(), 1, "one HTTP trigger");
    assert_eq!(triggers[0]["component"].as_str(), Some("vecgate"));
    let route = triggers[0]["route"].as_str().expect("a route");
    let spec: serde_json::Value =
        serde_json::from_str(vecgate_edge::api::OPENAPI_JSON).expect("openapi.json");
    let paths: Vec<String> = spec["paths"]
        .as_object()
        .expect("openapi paths")
        .keys()
        .map(|p| p.replace("{id}", "movie-603"))
        .collect();
    assert!(paths.iter().any(|p| p == "/v1/search"), "{paths:?}");
    // Spin routes: `/prefix/...` matches the prefix and everything below it; others are exact.
    let matches = |path: &str| match route.strip_suffix("/...") {
        Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
        None => path == route,
    };
    for path in &paths {
        assert!(matches(path), "route {route:?} does not reach {path}");
    }
}

#[test]
fn allowed_outbound_hosts_cover_the_configured_urls() {
    let manifest = manifest();
    let application = table(&manifest["variables"], "[variables]");
    for entry in component(&manifest)["allowed_outbound_hosts"]
        .as_array()
        .expect("allowed_outbound_hosts")
    {
        for name in template_names(entry.as_str().expect("a string")) {
            assert!(
                application.contains_key(&name),
                "{entry} uses undeclared {name}"
            );
        }
    }
    // A production shape: primary and a replica under one domain, a hosted provider.
    let production = deployment(
        &manifest,
        &[
            (
                "database_url",
                "postgres://vecgate:pw@db.example.com/vecgate",
            ),
            ("database_host", "db.example.com"),
            ("embedding_url", "https://api.openai.com/v1"),
        ],
    );
    assert_eq!(uncovered(&manifest, &production), Vec::<String>::new());
    let replicas = deployment(
        &manifest,
        &[
            ("database_url", "postgres://vecgate:pw@primary.db.example.com:6432/vecgate"),
            (
                "database_read_urls",
                "postgres://r@replica-1.db.example.com:6432/vecgate,postgres://r@replica-2.db.example.com:6432/vecgate",
            ),
            ("database_host", "*.db.example.com:6432"),
        ],
    );
    assert_eq!(uncovered(&manifest, &replicas), Vec::<String>::new());
    // The shape the Spin test host runs: loopback ports, a plain-HTTP provider.
    let local = deployment(
        &manifest,
        &[
            (
                "database_url",
                "postgres://postgres@127.0.0.1:54321/vecgate",
            ),
            ("database_host", "127.0.0.1:54321"),
            ("embedding_url", "http://127.0.0.1:40123/v1"),
            ("embedding_host", "127.0.0.1:40123"),
        ],
    );
    assert_eq!(uncovered(&manifest, &local), Vec::<String>::new());
    // And the check has teeth: a database the allow-list does not name is refused.
    let elsewhere = deployment(
        &manifest,
        &[
            (
                "database_url",
                "postgres://vecgate@other.example.net/vecgate",
            ),
            ("database_host", "db.example.com"),
            ("embedding_url", "https://api.openai.com:8443/v1"),
        ],
    );
    assert_eq!(
        uncovered(&manifest, &elsewhere),
        [
            "postgres://other.example.net",
            "https://api.openai.com:8443"
        ]
    );
}

#[test]
fn the_source_is_what_the_build_command_builds() {
    let manifest = manifest();
    let component = component(&manifest);
    let build = component["build"]["command"]
        .as_str()
        .expect("a build command");
    assert_eq!(
        build,
        format!(
            "cargo build --profile {} --target wasm32-wasip2 -p vecgate-spin",
            vecgate_spin_host::PROFILE
        )
    );
    let shipped = format!(
        "wasm32-wasip2/{}/vecgate_spin.wasm",
        vecgate_spin_host::PROFILE
    );
    assert_eq!(
        component["source"].as_str(),
        Some(format!("target/{shipped}").as_str())
    );
    let built = vecgate_spin_host::component_path();
    assert!(
        built.ends_with(&shipped),
        "{} vs {shipped}",
        built.display()
    );
}

/// Text queries without `embedding_url` go through Spin's LLM interface, which Spin refuses for
/// models the manifest does not give the component.
#[test]
fn the_component_may_use_the_local_embedding_model() {
    let manifest = manifest();
    let models: Vec<&str> = component(&manifest)["ai_models"]
        .as_array()
        .expect("[component.vecgate] ai_models is a list")
        .iter()
        .map(|m| m.as_str().expect("a model name"))
        .collect();
    assert_eq!(models, [vecgate_embed::MODEL_NAME]);
    // The test host reads the same list, so the suite runs with what Spin would allow.
    assert_eq!(
        vecgate_spin_host::manifest_ai_models().expect("ai_models"),
        models
    );
}
