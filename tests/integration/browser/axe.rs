//! The accessibility audit of every page the browser tests walk: axe-core (the engine of most
//! accessibility checkers) run in the page, failing on any serious or critical finding under the
//! WCAG 2.1 A and AA rules.
//!
//! axe-core is installed from npm by `.ci/run` into `target/axe/` (or named by `IDP_AXE_JS`).
//! Under `CI=true` a missing axe-core is a failure; elsewhere the audit is skipped with a printed
//! reason, as the browser tests are without a browser.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::Browser;
use crate::helpers::project_root;

/// The path `.ci/run` installs axe-core at, unless `IDP_AXE_JS` names another.
fn axe_path() -> PathBuf {
    std::env::var_os("IDP_AXE_JS").map_or_else(
        || project_root().join("target/axe/node_modules/axe-core/axe.min.js"),
        PathBuf::from,
    )
}

/// axe-core's source, read once; `None` (outside CI) when it is not installed.
fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = axe_path();
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(error) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
                    "CI=true but axe-core is missing at {}: {error} (.ci/run installs it with npm)",
                    path.display()
                ),
                Err(_) => {
                    eprintln!(
                        "skipping the accessibility audit: `npm install --prefix target/axe axe-core@4`"
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// What axe reports: the serious and critical violations, each as "rule: the elements".
const RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
  .then(result => done(result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))))
  .catch(error => done(["axe failed: " + error]));
"#;

impl Browser {
    /// Runs axe-core in the page in view; panics with its findings when any is serious or
    /// critical. A browser with JavaScript off runs no script, axe-core's neither: the same pages
    /// are audited by the tests with JavaScript on.
    pub(crate) async fn assert_accessible(&self) {
        let Some(source) = axe_source().filter(|_| self.javascript) else {
            return;
        };
        self.client
            .execute(&format!("{source}\nreturn true;"), vec![])
            .await
            .unwrap();
        let found = self.client.execute_async(RUN, vec![]).await.unwrap();
        let found: Vec<String> = match found {
            Value::Array(items) => items.iter().map(|v| v.to_string()).collect(),
            other => vec![format!("unexpected answer: {other}")],
        };
        assert!(
            found.is_empty(),
            "axe-core on {}: {found:#?}",
            self.url().await
        );
    }
}
