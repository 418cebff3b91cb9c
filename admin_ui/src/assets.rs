//! The static files the binary serves under `/admin/assets/`: htmx and its WebSocket
//! extension exactly as the lockfile's packages ship them (copied by `build.rs`), our
//! stylesheet, and GraphiQL with React for `GET /graphql` (so it needs no CDN). Every name
//! carries a version or a content hash, so the server may let browsers cache them forever.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// The file name under `/admin/assets/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

pub const HTMX: Asset = Asset {
    name: concat!("htmx-", env!("TAINA_HTMX_VERSION"), ".min.js"),
    content_type: JS,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/htmx.min.js")),
};

pub const HTMX_WS: Asset = Asset {
    name: concat!("hx-ws-", env!("TAINA_HTMX_VERSION"), ".min.js"),
    content_type: JS,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/hx-ws.min.js")),
};

pub const STYLESHEET: Asset = Asset {
    name: concat!("admin-", env!("TAINA_ADMIN_CSS_HASH"), ".css"),
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("../assets/admin.css"),
};

/// GraphiQL (its UMD build) and the React 18 it runs on, for `GET /graphql`.
pub const GRAPHIQL: Asset = Asset {
    name: concat!("graphiql-", env!("TAINA_GRAPHIQL_VERSION"), ".min.js"),
    content_type: JS,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/graphiql.min.js")),
};

pub const GRAPHIQL_STYLESHEET: Asset = Asset {
    name: concat!("graphiql-", env!("TAINA_GRAPHIQL_VERSION"), ".min.css"),
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/graphiql.min.css")),
};

pub const REACT: Asset = Asset {
    name: concat!("react-", env!("TAINA_REACT_VERSION"), ".production.min.js"),
    content_type: JS,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/react.production.min.js")),
};

pub const REACT_DOM: Asset = Asset {
    name: concat!(
        "react-dom-",
        env!("TAINA_REACT_DOM_VERSION"),
        ".production.min.js"
    ),
    content_type: JS,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/react-dom.production.min.js")),
};

pub const ALL: [Asset; 7] = [
    HTMX,
    HTMX_WS,
    STYLESHEET,
    GRAPHIQL,
    GRAPHIQL_STYLESHEET,
    REACT,
    REACT_DOM,
];

/// The asset called `name`, if there is one.
pub fn find(name: &str) -> Option<Asset> {
    ALL.into_iter().find(|asset| asset.name == name)
}

/// Its URL path.
pub fn href(asset: Asset) -> String {
    format!("/admin/assets/{}", asset.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_htmx_is_embedded_and_found_by_its_versioned_name() {
        assert!(HTMX.name.starts_with("htmx-4."), "{}", HTMX.name);
        assert!(HTMX.bytes.len() > 10_000);
        assert!(std::str::from_utf8(HTMX_WS.bytes)
            .unwrap()
            .contains("registerExtension"));
        assert_eq!(find(STYLESHEET.name).unwrap().bytes, STYLESHEET.bytes);
        assert!(find("htmx.min.js").is_none());
        assert!(std::str::from_utf8(GRAPHIQL.bytes)
            .unwrap()
            .contains("GraphiQL"));
        assert!(find(REACT_DOM.name).is_some());
    }
}
