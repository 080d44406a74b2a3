//! Faults named by the model: `fault-<status>`, `stall-<ms>`, `mid-error`,
//! `malformed`, `cut`, and the pace override `slow-<ms>`.

use std::time::Duration;

use crate::Fault;

/// What a model name asks for: a fault, and a frame pace.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) fault: Option<Fault>,
    pub(crate) pace: Option<Duration>,
}

/// Reads the fault or pace a model name asks for (a `models/` prefix is ignored).
pub(crate) fn from_model(model: &str) -> Named {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let fault = match model {
        "mid-error" => Some(Fault::MidStreamError),
        "malformed" => Some(Fault::Malformed),
        "cut" => Some(Fault::Cut),
        _ => None,
    };
    if fault.is_some() {
        return Named { fault, pace: None };
    }
    if let Some(status) = model
        .strip_prefix("fault-")
        .and_then(|s| s.parse::<u16>().ok())
    {
        if (100..=599).contains(&status) {
            let retry_after = (status == 429).then_some(1);
            let fault = Some(Fault::Status {
                status,
                retry_after,
            });
            return Named { fault, pace: None };
        }
    }
    let ms = |prefix: &str| {
        model
            .strip_prefix(prefix)
            .and_then(|s| s.parse::<u64>().ok())
    };
    Named {
        fault: ms("stall-").map(|n| Fault::Stall(Duration::from_millis(n))),
        pace: ms("slow-").map(Duration::from_millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_faults() {
        let status = |s, r| {
            Some(Fault::Status {
                status: s,
                retry_after: r,
            })
        };
        assert_eq!(from_model("fault-429").fault, status(429, Some(1)));
        assert_eq!(from_model("models/fault-529").fault, status(529, None));
        assert_eq!(
            from_model("stall-250").fault,
            Some(Fault::Stall(Duration::from_millis(250)))
        );
        assert_eq!(from_model("slow-7").pace, Some(Duration::from_millis(7)));
        assert_eq!(from_model("cut").fault, Some(Fault::Cut));
        assert_eq!(from_model("fault-99"), Named::default());
        assert_eq!(from_model("gpt-4o"), Named::default());
        assert_eq!(from_model("stall-x"), Named::default());
    }
}
