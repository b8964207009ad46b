//! Building a Go twin, and which build of Go's runtime it runs. [`GoToolchain::build_twin`]
//! builds one; [`GoMarker`] (`gomem compare --go-marker`) turns into the `GOEXPERIMENT` it is
//! built with, and the `GOEXPERIMENT` its build information records (`go version -m`) says
//! which marker the binary really has, so that a twin without the marker asked for is refused.
//! Green Tea has been Go's default since 1.26; `GOEXPERIMENT=nogreenteagc` builds the classic
//! marker.

use super::compare::{CompareError, GoToolchain, TWINS_ENV};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which marker the Go twin is built with (`gomem compare --go-marker`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoMarker {
    /// Green Tea span marking, Go's default since 1.26 (`GOEXPERIMENT=greenteagc`).
    #[default]
    GreenTea,
    /// The classic object-at-a-time marker (`GOEXPERIMENT=nogreenteagc`).
    Classic,
}

impl GoMarker {
    /// `greentea` or `classic`, as `--go-marker` takes it.
    pub fn name(self) -> &'static str {
        match self {
            GoMarker::GreenTea => "greentea",
            GoMarker::Classic => "classic",
        }
    }

    /// The marker `--go-marker NAME` names.
    pub fn parse(s: &str) -> Result<GoMarker, String> {
        match s {
            "greentea" => Ok(GoMarker::GreenTea),
            "classic" => Ok(GoMarker::Classic),
            _ => Err(format!("unknown marker {s:?}: expected greentea or classic")),
        }
    }

    /// The `GOEXPERIMENT` to build with: the experiments of `inherited` (the caller's
    /// `GOEXPERIMENT`) other than `greenteagc` or `nogreenteagc`, then this marker's.
    pub fn goexperiment(self, inherited: &str) -> String {
        let mut v: Vec<&str> = inherited
            .split(',')
            .filter(|e| !e.is_empty() && !matches!(*e, "greenteagc" | "nogreenteagc"))
            .collect();
        v.push(match self {
            GoMarker::GreenTea => "greenteagc",
            GoMarker::Classic => "nogreenteagc",
        });
        v.join(",")
    }

    /// Whether a binary whose build information records `experiments` (its `GOEXPERIMENT`,
    /// which lists what differs from the toolchain's defaults) runs this marker, given that
    /// Green Tea is the default.
    pub fn built_into(self, experiments: &str) -> bool {
        let off = experiments.split(',').any(|e| e == "nogreenteagc");
        off == (self == GoMarker::Classic)
    }
}

/// A built Go twin.
#[derive(Clone, Debug)]
pub struct Twin {
    /// The binary.
    pub exe: PathBuf,
    /// The marker it was built with.
    pub marker: GoMarker,
    /// `GOEXPERIMENT` as its build information records it (`go version -m`; empty when it
    /// was built with the toolchain's default experiments).
    pub goexperiment: String,
}

impl GoToolchain {
    /// Build the twin `package` (a directory of `twins`, e.g. `churn`) with `marker` into a
    /// subdirectory of `cache` kept for that `twins` directory and that marker, and check from
    /// its build information that it runs that marker.
    ///
    /// The binary is built under a temporary name and renamed into place, so concurrent
    /// comparisons never run a half-written file.
    pub fn build_twin(
        &self,
        twins: &Path,
        package: &str,
        cache: &Path,
        marker: GoMarker,
    ) -> Result<Twin, CompareError> {
        let build = |m: String| CompareError::Build(m);
        if !twins.join(package).is_dir() {
            return Err(build(format!(
                "no Go twin {package:?} in {} (set {TWINS_ENV} or --go-twins to the benches/go \
                 directory of a gomem source tree)",
                twins.display()
            )));
        }
        // Twins built from different source directories must not overwrite each other.
        let source = twins.canonicalize().unwrap_or_else(|_| twins.to_owned());
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            source.hash(&mut h);
            h.finish()
        };
        let out_dir = &cache.join(format!("{key:016x}")).join(marker.name());
        std::fs::create_dir_all(out_dir)
            .map_err(|e| build(format!("cannot create {}: {e}", out_dir.display())))?;
        let bin = out_dir.join(package);
        let tmp = out_dir.join(format!(".{package}.{}.tmp", std::process::id()));
        let mut c = Command::new(&self.go);
        c.args(["build", "-o"]).arg(&tmp).arg(format!("./{package}")).current_dir(twins);
        // Build with the Go that is here, never a downloaded one, and without a workspace file
        // from a parent directory.
        c.env("GOTOOLCHAIN", "local").env("GOFLAGS", "-mod=mod").env("GOWORK", "off");
        let inherited = std::env::var("GOEXPERIMENT").unwrap_or_default();
        c.env("GOEXPERIMENT", marker.goexperiment(&inherited));
        if ["GOCACHE", "XDG_CACHE_HOME", "HOME"].iter().all(|v| std::env::var_os(v).is_none()) {
            // One cache for both markers: GOEXPERIMENT is part of Go's cache keys.
            c.env("GOCACHE", cache.join("go-build"));
        }
        let out = c
            .stdin(Stdio::null())
            .output()
            .map_err(|e| build(format!("cannot run {} build: {e}", self.go.display())))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&tmp);
            return Err(build(format!(
                "go build ./{package} in {} failed ({}):\n{}",
                twins.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            )));
        }
        let goexperiment = match self.goexperiment_of(&tmp) {
            Ok(g) if marker.built_into(&g) => g,
            Ok(g) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(build(format!(
                    "the twin {package} was built for the {} marker but its build information \
                     says GOEXPERIMENT={g:?}",
                    marker.name()
                )));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(build(e));
            }
        };
        std::fs::rename(&tmp, &bin)
            .map_err(|e| build(format!("cannot move the twin to {}: {e}", bin.display())))?;
        Ok(Twin { exe: bin, marker, goexperiment })
    }

    /// The `GOEXPERIMENT` recorded in a Go binary's build information (`go version -m`),
    /// empty when the line is absent (built with the default experiments).
    pub fn goexperiment_of(&self, bin: &Path) -> Result<String, String> {
        let out = Command::new(&self.go)
            .args(["version", "-m"])
            .arg(bin)
            .env("GOTOOLCHAIN", "local")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {} version -m: {e}", self.go.display()))?;
        if !out.status.success() {
            return Err(format!(
                "go version -m {} failed ({}): {}",
                bin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(parse_goexperiment(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// The value of the `build GOEXPERIMENT=...` line of `go version -m` output, or `""`.
pub fn parse_goexperiment(version_m: &str) -> String {
    version_m
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("build")).then(|| f.next()).flatten()?.strip_prefix("GOEXPERIMENT=")
        })
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_goexperiments_and_are_read_back() {
        assert_eq!(GoMarker::Classic.goexperiment(""), "nogreenteagc");
        assert_eq!(GoMarker::GreenTea.goexperiment("nogreenteagc"), "greenteagc");
        assert_eq!(GoMarker::Classic.goexperiment("jsonv2,greenteagc"), "jsonv2,nogreenteagc");
        let m = "/tmp/mark: go1.27.3\n\tpath\tgomem.example/twins/mark\n\tbuild\t-compiler=gc\n\
                 \tbuild\tGOEXPERIMENT=jsonv2,nogreenteagc\n\tbuild\tGOOS=linux\n";
        assert_eq!(parse_goexperiment(m), "jsonv2,nogreenteagc");
        assert_eq!(parse_goexperiment("/tmp/mark: go1.27.3\n\tbuild\tGOOS=linux\n"), "");
        assert!(GoMarker::Classic.built_into("jsonv2,nogreenteagc"));
        assert!(!GoMarker::Classic.built_into("greenteagc"));
        assert!(GoMarker::GreenTea.built_into("") && GoMarker::GreenTea.built_into("greenteagc"));
        assert!(!GoMarker::GreenTea.built_into("nogreenteagc"));
        assert_eq!(GoMarker::parse("classic"), Ok(GoMarker::Classic));
        assert!(GoMarker::parse("Classic").is_err());
    }
}
