//! Activity: per community, how much there is (counts and sizes, never content); recent
//! sign-ins (and failures, once the security log records them); the audit log of admin
//! actions. Live regions `activity-communities`, `activity-signins`, `activity-audit`.

use maud::{html, Markup, PreEscaped};

use crate::layout::page as shell_page;
use crate::model::{Activity, Page, Shell};
use crate::{bytes, region, Region, Rendering};

pub fn regions(activity: &Activity, rendering: Rendering) -> Vec<Region> {
    let communities = html! {
        table {
            thead { tr {
                th { "Community" } th.num { "Members" } th.num { "Conversations" }
                th.num { "Messages" } th.num { "Photos" } th.num { "Photo bytes" } th.num { "Albums" }
            } }
            tbody { @for c in &activity.communities { tr {
                td { (c.name) } td.num { (c.members) } td.num { (c.conversations) }
                td.num { (c.messages) } td.num { (c.photos) } td.num { (bytes(c.photo_bytes)) }
                td.num { (c.albums) }
            } } }
        }
    };
    let sign_ins = html! {
        table {
            thead { tr { th { "When" } th { "Account" } th { "From" } th { "Device" } th { "Result" } } }
            tbody {
                @if activity.sign_ins.is_empty() { tr { td colspan="5" .muted { "No sign-ins yet." } } }
                @for s in &activity.sign_ins { tr {
                    td { (s.at) } td { (s.email) } td { (s.address) } td { (s.device) }
                    td {
                        @if s.succeeded { span.online { "signed in" } }
                        @else { span.level-critical { "failed" } " " span.muted { (s.reason.as_deref().unwrap_or("")) } }
                    }
                } }
            }
        }
    };
    let audit = html! {
        table {
            thead { tr { th { "When" } th { "Who" } th { "What" } th { "From" } } }
            tbody {
                @if activity.audit.is_empty() { tr { td colspan="4" .muted { "No admin actions recorded." } } }
                @for a in &activity.audit { tr {
                    td { (a.at) } td { (a.actor) } td { (a.action) } td { (a.address) }
                } }
            }
        }
    };
    let security = html! {
        table {
            thead { tr { th { "When" } th { "What" } th { "Who" } th { "From" } th { "Why" } } }
            tbody {
                @if activity.security.is_empty() { tr { td colspan="5" .muted { "The security log is empty." } } }
                @for e in &activity.security { tr {
                    td { (e.at) }
                    td { span.badge.level-critical[e.failure] { (e.kind) } }
                    td { (e.who) } td { (e.address) } td.muted { (e.reason) }
                } }
            }
        }
    };
    vec![
        Region::new(
            "activity-security",
            region("div", "activity-security", "", rendering, security),
        ),
        Region::new(
            "activity-communities",
            region("div", "activity-communities", "", rendering, communities),
        ),
        Region::new(
            "activity-signins",
            region("div", "activity-signins", "", rendering, sign_ins),
        ),
        Region::new(
            "activity-audit",
            region("div", "activity-audit", "", rendering, audit),
        ),
    ]
}

pub fn page(shell: &Shell, activity: &Activity) -> Markup {
    let r = regions(activity, Rendering::Page);
    shell_page(
        shell,
        Page::Activity,
        html! {
            h2 { "Communities" } (PreEscaped(&r[1].html))
            h2 { "Recent sign-ins" } (PreEscaped(&r[2].html))
            h2 { "Admin actions" } (PreEscaped(&r[3].html))
            h2 { "Security log (live)" } (PreEscaped(&r[0].html))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommunityActivity, SignInRow};

    #[test]
    fn counts_and_sign_ins_render_escaped() {
        let activity = Activity {
            communities: vec![CommunityActivity {
                name: "Aldeia".into(),
                messages: 12,
                photo_bytes: 2048,
                ..CommunityActivity::default()
            }],
            sign_ins: vec![SignInRow {
                email: "x@<y>".into(),
                succeeded: false,
                reason: Some("wrong password".into()),
                ..SignInRow::default()
            }],
            ..Activity::default()
        };
        let r = regions(&activity, Rendering::Push);
        assert!(r[1].html.contains("2.0 KiB") && r[1].html.contains(">12<"));
        assert!(r[2].html.contains("x@&lt;y&gt;") && r[2].html.contains("wrong password"));
        assert!(r[3].html.contains("No admin actions recorded."));
        assert!(r[0].html.contains("The security log is empty."));
    }
}
