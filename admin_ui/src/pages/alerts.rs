//! Alerts: compose one for the community's `system:alerts` topic, and see the recent ones of
//! the community and of the whole instance (live region `alerts-recent`).

use maud::{html, Markup, PreEscaped};

use crate::layout::{action_form, page as shell_page};
use crate::model::{Alerts, Page, Shell};
use crate::{region, Region, Rendering};

pub fn regions(alerts: &Alerts, rendering: Rendering) -> Vec<Region> {
    let recent = html! {
        table {
            thead { tr { th { "When" } th { "Level" } th { "Scope" } th { "Message" } } }
            tbody {
                @if alerts.recent.is_empty() { tr { td colspan="4" .muted { "No alerts." } } }
                @for a in &alerts.recent { tr {
                    td { (a.at) }
                    td { span class=(format!("level-{}", a.level)) { (a.level) } }
                    td { (a.scope) }
                    td.alert-text { (a.text) }
                } }
            }
        }
    };
    vec![Region::new(
        "alerts-recent",
        region("div", "alerts-recent", "", rendering, recent),
    )]
}

pub fn page(shell: &Shell, alerts: &Alerts) -> Markup {
    let r = regions(alerts, Rendering::Page);
    shell_page(
        shell,
        Page::Alerts,
        html! {
            h2 { "Send an alert to your community" }
            (action_form("/admin/alerts", &shell.csrf_token, "stack", html! {
                label { "Level" select name="level" {
                    option value="info" { "info" }
                    option value="warning" { "warning" }
                    option value="critical" { "critical" }
                } }
                label { "Message" textarea name="message" rows="3" maxlength="2000" required {} }
                button #send-alert type="submit" { "Send" }
            }))
            h2 { "Recent" }
            (PreEscaped(&r[0].html))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertRow;

    #[test]
    fn alerts_list_escapes_the_text() {
        let alerts = Alerts {
            recent: vec![AlertRow {
                level: "warning".into(),
                text: "<img src=x>".into(),
                scope: "community".into(),
                at: "now".into(),
            }],
        };
        let html = &regions(&alerts, Rendering::Push)[0].html;
        assert!(html.contains("&lt;img src=x&gt;"), "{html}");
        assert!(html.contains(r#"class="level-warning""#), "{html}");
    }
}
