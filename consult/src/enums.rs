//! Closed sets of words from the contract (statuses, modes, purposes, HI types) as enums that parse and print themselves.

/// Declares an enum whose variants are spelled on the wire exactly as given.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// A field check: the value or a message listing what is accepted.
            pub fn check(s: Option<&str>) -> Result<Self, String> {
                match s {
                    None => Err("is required".into()),
                    Some(s) => Self::parse(s).ok_or_else(|| format!("must be one of: {}", [$($text),+].join(", "))),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use wire_enum;
