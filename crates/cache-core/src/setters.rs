//! By-value builder setters, written once for every builder of the framework.

/// Writes `pub fn name(mut self, name: Type) -> Self` setters, one per line of
/// the form `name: Type;` (sets the field of the same name), `name: Type => Some;`
/// (an optional field) or `name: impl Into<T> => into;`. Doc comments and
/// attributes before a line go to its setter.
///
/// It is the framework's own helper (its builders are in several crates),
/// not part of the cache contract.
///
/// ```
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct Options { ttl: Duration, name: String, limit: Option<u64> }
///
/// impl Options {
///     cache_core::setters! {
///         /// The TTL.
///         ttl: Duration;
///         /// The name.
///         name: impl Into<String> => into;
///         /// The limit.
///         limit: u64 => Some;
///     }
/// }
///
/// let options = Options::default().ttl(Duration::from_secs(1)).name("n").limit(3);
/// assert_eq!((options.ttl.as_secs(), options.name.as_str(), options.limit), (1, "n", Some(3)));
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! setters {
    ($($(#[$attr:meta])* $name:ident: $ty:ty $(=> $wrap:ident)?;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $crate::setters!(@value $name $($wrap)?);
                self
            }
        )*
    };
    (@value $value:ident) => { $value };
    (@value $value:ident Some) => { ::core::option::Option::Some($value) };
    (@value $value:ident into) => { ::core::convert::Into::into($value) };
}
