//! The search space as a study resolves it against the variables table,
//! and the two ways of drawing from it: uniformly at random, and on a
//! finite grid.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::spec::StudySpec;
use crate::agent::Value;
use crate::variables::{Kind, Table, VariableError};

/// The most points a grid may have.
pub(crate) const MAX_GRID: u64 = 100_000;

/// The search space of a study, resolved: for each variable, the kind
/// searched and the variable's own kind (which has the last word on the
/// stored form of a value). Kept in the study's journal, so that a
/// resumed study searches the same space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Space {
    pub(crate) dims: Vec<Dim>,
}

/// One variable of a resolved space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Dim {
    pub(crate) name: String,
    /// What is searched: the spec's narrowed kind, or the variable's,
    /// with the coarser of the two precisions for a float.
    pub(crate) search: Kind,
    /// The variable's kind.
    pub(crate) own: Kind,
}

/// A configuration: a value for each variable, by name.
pub(crate) type Params = BTreeMap<String, Value>;

impl Space {
    /// Resolves `spec`'s space against `table`: every variable defined,
    /// of a kind that can be searched, every narrowed kind within the
    /// variable's.
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] saying which variable and why.
    pub(crate) fn resolve(spec: &StudySpec, table: &Table) -> Result<Self, VariableError> {
        let bad = |reason: String| VariableError::InvalidStudy {
            name: spec.name.clone(),
            reason,
        };
        let mut dims = Vec::with_capacity(spec.space.len());
        for param in &spec.space {
            let name = &param.name;
            let own = table
                .definition(name)
                .map(|d| d.kind.clone())
                .ok_or_else(|| bad(format!("no variable `{name}`: define it first")))?;
            let search = within(param.kind.as_ref().unwrap_or(&own), &own)
                .map_err(|reason| bad(format!("variable `{name}`: {reason}")))?;
            dims.push(Dim {
                name: name.clone(),
                search,
                own,
            });
        }
        let space = Space { dims };
        if let Some(points) = spec.grid_points() {
            let size = grid_size(space.dims.iter().map(|d| &d.search), points);
            if size > MAX_GRID {
                return Err(bad(format!(
                    "the grid has {size} points, more than {MAX_GRID}: use fewer points"
                )));
            }
        }
        Ok(space)
    }

    /// The configuration drawn uniformly with `rng`: a float on its scale
    /// (log or linear) rounded to its precision, an integer on its steps,
    /// an option, a bool.
    ///
    /// # Errors
    /// [`VariableError::InvalidValue`] if a value drawn is one the
    /// variable refuses (a defect: resolution rules it out).
    pub(crate) fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Params, VariableError> {
        self.dims
            .iter()
            .map(|dim| {
                let value = match &dim.search {
                    Kind::Float {
                        min,
                        max,
                        precision,
                        log,
                    } => {
                        let v = if min == max {
                            *min
                        } else if *log {
                            rng.random_range(min.ln()..=max.ln()).exp()
                        } else {
                            rng.random_range(*min..=*max)
                        };
                        Value::Float(snap(v, *min, *max, *precision))
                    }
                    Kind::Int { min, max, step } => {
                        let last = steps(*min, *max, *step) - 1;
                        let i = rng.random_range(0..=last);
                        Value::Int(int_at(*min, *step, i))
                    }
                    Kind::Choice { options } => {
                        Value::Text(options[rng.random_range(0..options.len())].clone())
                    }
                    Kind::Bool => Value::Bool(rng.random()),
                    Kind::Text { .. } => {
                        return Err(VariableError::InvalidKind {
                            reason: "a text variable cannot be searched".into(),
                        })
                    }
                };
                Ok((dim.name.clone(), dim.own.check(&value)?))
            })
            .collect()
    }

    /// The grid of `points` values per numeric variable (see
    /// [`Sampler`](super::Sampler)).
    ///
    /// # Errors
    /// As [`draw`](Self::draw).
    pub(crate) fn grid(&self, points: u32) -> Result<Grid, VariableError> {
        let axes = self
            .dims
            .iter()
            .map(|dim| {
                axis(&dim.search, points)
                    .iter()
                    .map(|v| dim.own.check(v))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Grid {
            names: self.dims.iter().map(|d| d.name.clone()).collect(),
            axes,
        })
    }
}

/// A finite grid over a space: the values of each variable, and every
/// combination of them numbered in order, the last variable changing
/// fastest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    names: Vec<String>,
    axes: Vec<Vec<Value>>,
}

impl Grid {
    /// How many points it has.
    pub(crate) fn size(&self) -> u64 {
        self.axes
            .iter()
            .fold(1u64, |n, axis| n.saturating_mul(axis.len() as u64))
    }

    /// Point `k` (`k < size`): the digits of `k` in the mixed radix of
    /// the axes' lengths, the last axis the least significant.
    pub(crate) fn point(&self, k: u64) -> Params {
        let mut rest = k;
        let mut values = vec![Value::Bool(false); self.axes.len()];
        for (i, axis) in self.axes.iter().enumerate().rev() {
            let len = axis.len() as u64;
            values[i] = axis[(rest % len) as usize].clone();
            rest /= len;
        }
        self.names.iter().cloned().zip(values).collect()
    }
}

/// The number of points of a grid over `kinds` with `points` values per
/// numeric kind, before duplicates are merged (an upper bound),
/// saturating.
pub(crate) fn grid_size<'a>(kinds: impl Iterator<Item = &'a Kind>, points: u32) -> u64 {
    kinds.fold(1u64, |n, kind| {
        let len = match kind {
            Kind::Float { min, max, .. } => {
                if min == max {
                    1
                } else {
                    u64::from(points)
                }
            }
            Kind::Int { min, max, step } => steps(*min, *max, *step).min(u64::from(points)),
            Kind::Choice { options } => options.len() as u64,
            Kind::Bool => 2,
            Kind::Text { .. } => 1,
        };
        n.saturating_mul(len)
    })
}

/// The values of one axis of a grid, in increasing order, without
/// duplicates.
fn axis(kind: &Kind, points: u32) -> Vec<Value> {
    let last = u64::from(points.max(2)) - 1;
    let mut values: Vec<Value> = match kind {
        Kind::Float {
            min,
            max,
            precision,
            log,
        } => {
            if min == max {
                vec![Value::Float(*min)]
            } else {
                (0..=last)
                    .map(|i| {
                        let t = i as f64 / last as f64;
                        let v = match (i, log) {
                            (0, _) => *min,
                            (i, _) if i == last => *max,
                            (_, true) => (min.ln() + (max.ln() - min.ln()) * t).exp(),
                            (_, false) => min + (max - min) * t,
                        };
                        Value::Float(snap(v, *min, *max, *precision))
                    })
                    .collect()
            }
        }
        Kind::Int { min, max, step } => {
            let n = steps(*min, *max, *step);
            if n <= last + 1 {
                (0..n).map(|i| Value::Int(int_at(*min, *step, i))).collect()
            } else {
                (0..=last)
                    .map(|i| {
                        // Round i (n - 1) / last to the nearest step, in integers.
                        let num = u128::from(i) * u128::from(n - 1);
                        let index = (num + u128::from(last) / 2) / u128::from(last);
                        Value::Int(int_at(*min, *step, index as u64))
                    })
                    .collect()
            }
        }
        Kind::Choice { options } => options.iter().cloned().map(Value::Text).collect(),
        Kind::Bool => vec![Value::Bool(false), Value::Bool(true)],
        Kind::Text { .. } => Vec::new(),
    };
    values.dedup();
    values
}

/// How many values `min + k step` lie in `[min, max]` (at least 1 for a
/// valid kind), saturating.
fn steps(min: i64, max: i64, step: i64) -> u64 {
    let span = i128::from(max) - i128::from(min);
    let n = span / i128::from(step.max(1)) + 1;
    u64::try_from(n.max(1)).unwrap_or(u64::MAX)
}

/// `min + i step`, within the kind's range for `i` below [`steps`].
fn int_at(min: i64, step: i64, i: u64) -> i64 {
    let v = i128::from(min) + i128::from(i) * i128::from(step);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `v` clamped to `[min, max]` and rounded to `precision` decimal places
/// (half away from zero, as the variable's own check rounds), moved one
/// place inwards if rounding took it out of the range.
fn snap(v: f64, min: f64, max: f64, precision: Option<u32>) -> f64 {
    let v = v.clamp(min, max);
    let Some(places) = precision else { return v };
    let scale = 10f64.powi(places.min(15) as i32);
    let rounded = (v * scale).round() / scale;
    if rounded < min {
        (min * scale).ceil() / scale
    } else if rounded > max {
        (max * scale).floor() / scale
    } else {
        rounded
    }
}

/// `search`, checked to lie within `own` and given the coarser of the
/// two precisions; `Err` says why not.
fn within(search: &Kind, own: &Kind) -> Result<Kind, String> {
    search.validate().map_err(|e| e.to_string())?;
    let outside = |what: String| Err(format!("{what} is outside the variable's kind"));
    match (search, own) {
        (
            Kind::Float {
                min,
                max,
                precision,
                log,
            },
            Kind::Float {
                min: own_min,
                max: own_max,
                precision: own_precision,
                ..
            },
        ) => {
            if min < own_min || max > own_max {
                return outside(format!("[{min}, {max}]"));
            }
            let precision = match (precision, own_precision) {
                (Some(a), Some(b)) => Some(*a.min(b)),
                (a, b) => a.or(*b),
            };
            if let Some(places) = precision {
                let scale = 10f64.powi(places.min(15) as i32);
                if (min * scale).ceil() > (max * scale).floor() {
                    return Err(format!(
                        "no value with {places} decimal places lies in [{min}, {max}]"
                    ));
                }
            }
            Ok(Kind::Float {
                min: *min,
                max: *max,
                precision,
                log: *log,
            })
        }
        (Kind::Int { min, max, step }, Kind::Int { step: own_step, .. }) => {
            for end in [min, max] {
                if own.check(&Value::Int(*end)).is_err() {
                    return outside(format!("{end}"));
                }
            }
            if step % own_step != 0 {
                return Err(format!(
                    "the step {step} is not a multiple of the variable's step {own_step}"
                ));
            }
            Ok(search.clone())
        }
        (Kind::Choice { options }, Kind::Choice { .. }) => {
            for option in options {
                if own.check(&Value::Text(option.clone())).is_err() {
                    return outside(format!("option `{option}`"));
                }
            }
            Ok(search.clone())
        }
        (Kind::Bool, Kind::Bool) => Ok(Kind::Bool),
        (_, Kind::Text { .. }) | (Kind::Text { .. }, _) => {
            Err("a text variable cannot be searched".into())
        }
        _ => Err(format!(
            "searched as {search:?}, but the variable is {own:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::{Command, Definition, Objective};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn table(definitions: Vec<Definition>) -> Table {
        let mut t = Table::new();
        for definition in definitions {
            t.apply(Command::Define {
                definition,
                at_ms: 0,
            })
            .expect("define");
        }
        t
    }

    fn log_lr() -> Kind {
        Kind::Float {
            min: 1e-4,
            max: 1e-1,
            precision: None,
            log: true,
        }
    }

    fn space() -> Space {
        let t = table(vec![
            Definition::new("lr", Kind::float(0.0, 1.0), Value::Float(0.5)),
            Definition::new(
                "batch",
                Kind::Int {
                    min: 8,
                    max: 512,
                    step: 8,
                },
                Value::Int(64),
            ),
            Definition::new(
                "opt",
                Kind::choice(["adam", "sgd", "lion"]),
                Value::Text("adam".into()),
            ),
            Definition::new("nesterov", Kind::Bool, Value::Bool(false)),
        ]);
        let spec = StudySpec::new("s", Objective::minimize("loss"), "evaluator")
            .param_in("lr", log_lr())
            .param("batch")
            .param("opt")
            .param("nesterov");
        Space::resolve(&spec, &t).expect("resolve")
    }

    #[test]
    fn random_draws_respect_every_kind() {
        let space = space();
        let mut rng = StdRng::seed_from_u64(7);
        let mut below_1e3 = 0;
        for _ in 0..2000 {
            let p = space.draw(&mut rng).expect("draw");
            let Value::Float(lr) = p["lr"] else {
                panic!("{p:?}")
            };
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
            if lr < 1e-3 {
                below_1e3 += 1;
            }
            let Value::Int(b) = p["batch"] else {
                panic!("{p:?}")
            };
            assert!((8..=512).contains(&b) && b % 8 == 0, "{b}");
            assert!(
                matches!(&p["opt"], Value::Text(o) if ["adam", "sgd", "lion"].contains(&o.as_str()))
            );
            assert!(matches!(p["nesterov"], Value::Bool(_)));
        }
        // On a log scale each decade gets about a third of the draws
        // (linear: 0.9 %).
        assert!((500..850).contains(&below_1e3), "{below_1e3}");
    }

    #[test]
    fn precision_is_kept_at_the_edges() {
        let t = table(vec![Definition::new(
            "x",
            Kind::Float {
                min: 0.121,
                max: 0.2,
                precision: Some(2),
                log: false,
            },
            Value::Float(0.15),
        )]);
        let spec = StudySpec::new("s", Objective::minimize("loss"), "e").param("x");
        let space = Space::resolve(&spec, &t).expect("resolve");
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..500 {
            let Value::Float(x) = space.draw(&mut rng).expect("draw")["x"] else {
                panic!()
            };
            assert!((0.13..=0.2).contains(&x), "{x}");
            assert_eq!(x, (x * 100.0).round() / 100.0);
        }
        let grid = space.grid(3).expect("grid");
        let xs: Vec<Value> = (0..grid.size())
            .map(|k| grid.point(k)["x"].clone())
            .collect();
        assert_eq!(
            xs,
            [Value::Float(0.13), Value::Float(0.16), Value::Float(0.2)]
        );
    }

    #[test]
    fn the_grid_enumerates_every_combination_in_order() {
        let space = space();
        let grid = space.grid(4).expect("grid");
        // lr 4 values, batch 4 of its 64, opt 3, nesterov 2.
        assert_eq!(grid.size(), 4 * 4 * 3 * 2);
        let first = grid.point(0);
        assert_eq!(first["lr"], Value::Float(1e-4));
        assert_eq!(first["batch"], Value::Int(8));
        assert_eq!(first["opt"], Value::Text("adam".into()));
        assert_eq!(first["nesterov"], Value::Bool(false));
        // The last variable changes fastest.
        assert_eq!(grid.point(1)["nesterov"], Value::Bool(true));
        assert_eq!(grid.point(2)["opt"], Value::Text("sgd".into()));
        let last = grid.point(grid.size() - 1);
        assert_eq!(last["lr"], Value::Float(1e-1));
        assert_eq!(last["batch"], Value::Int(512));
        let lrs: Vec<f64> = (0..4)
            .map(|i| match grid.point(i * 24)["lr"] {
                Value::Float(v) => v,
                _ => f64::NAN,
            })
            .collect();
        // Geometric: 1e-4, 1e-3, 1e-2, 1e-1.
        for (got, want) in lrs.iter().zip([1e-4, 1e-3, 1e-2, 1e-1]) {
            assert!((got / want - 1.0).abs() < 1e-9, "{lrs:?}");
        }
        let batches: Vec<Value> = (0..4).map(|i| grid.point(i * 6)["batch"].clone()).collect();
        assert_eq!(
            batches,
            [
                Value::Int(8),
                Value::Int(176),
                Value::Int(344),
                Value::Int(512)
            ]
        );
        // Every point distinct.
        let all: std::collections::BTreeSet<String> = (0..grid.size())
            .map(|k| format!("{:?}", grid.point(k)))
            .collect();
        assert_eq!(all.len() as u64, grid.size());
    }

    #[test]
    fn small_integer_ranges_are_enumerated_whole() {
        let kind = Kind::Int {
            min: 1,
            max: 5,
            step: 2,
        };
        assert_eq!(
            axis(&kind, 10),
            [Value::Int(1), Value::Int(3), Value::Int(5)]
        );
        assert_eq!(grid_size([&kind, &Kind::Bool].into_iter(), 10), 6);
    }

    #[test]
    fn narrowed_kinds_must_lie_within_the_variable() {
        let t = table(vec![
            Definition::new("lr", Kind::float(0.0, 1.0), Value::Float(0.5)),
            Definition::new("n", Kind::int(0, 10), Value::Int(5)),
            Definition::new("note", Kind::text(10), Value::Text("x".into())),
        ]);
        let resolve = |spec: StudySpec| Space::resolve(&spec, &t).map_err(|e| e.to_string());
        let spec = || StudySpec::new("s", Objective::minimize("loss"), "e");
        let e = resolve(spec().param_in("lr", Kind::float(0.5, 2.0))).unwrap_err();
        assert!(e.contains("outside the variable's kind"), "{e}");
        let e = resolve(spec().param_in("lr", Kind::int(0, 1))).unwrap_err();
        assert!(e.contains("but the variable is"), "{e}");
        let e = resolve(spec().param("missing")).unwrap_err();
        assert!(e.contains("no variable `missing`"), "{e}");
        let e = resolve(spec().param("note")).unwrap_err();
        assert!(e.contains("text variable cannot be searched"), "{e}");
        assert!(resolve(spec().param_in("n", Kind::int(2, 8))).is_ok());
        let e = resolve(
            spec()
                .param_in("lr", Kind::float(0.0, 1.0))
                .param("n")
                .sampler(super::super::Sampler::Grid { points: 400 })
                .param_in("lr2", Kind::float(0.0, 1.0)),
        )
        .unwrap_err();
        assert!(e.contains("no variable `lr2`"), "{e}");
    }
}
