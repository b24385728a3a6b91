//! The user-profile value of the codec benchmark (209 bytes of CBOR), shared
//! by the benchmark and the wire-compatibility tests.

use serde::{Deserialize, Serialize};

/// Where the user is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Location {
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
    pub(crate) accuracy_m: f64,
}

/// A typical cached value: an id, short strings, a list, a nested struct, a
/// bool and an option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct UserProfile {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) tags: Vec<String>,
    pub(crate) location: Location,
    pub(crate) verified: bool,
    pub(crate) nickname: Option<String>,
}

/// The benchmark's profile.
pub(crate) fn profile() -> UserProfile {
    UserProfile {
        id: 4_815_162_342,
        name: "Ada Lovelace".into(),
        email: "ada.lovelace@example.com".into(),
        tags: [
            "admin",
            "beta-tester",
            "early-adopter",
            "eu-west",
            "newsletter",
        ]
        .map(String::from)
        .into(),
        location: Location {
            latitude: 51.507_351,
            longitude: -0.127_758,
            accuracy_m: 12.5,
        },
        verified: true,
        nickname: Some("Countess".into()),
    }
}
