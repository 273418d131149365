//! Parameter ids drawn from the run's seed. burn gives every parameter a random id, which a
//! checkpoint's `model.bpk` stores and its optimizer state is keyed by; drawn from the operating
//! system, they made two runs of the same recipe write different files. A fresh model gets ids
//! from (seed, the parameter's place in visit order) instead; a loaded one keeps its file's.

use burn::module::{ModuleMapper, Param, ParamId};
use burn::prelude::*;

use crate::seed::splitmix64;

struct SeededIds {
    seed: u64,
    next: u64,
}

impl ModuleMapper for SeededIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        let id = ParamId::from(splitmix64(splitmix64(self.seed) ^ self.next));
        self.next += 1;
        Param::from_mapped_value(id, value, mapper)
    }
}

/// `model` with every parameter's id drawn from `seed` and its order.
pub fn with_seeded_param_ids<M: Module>(model: M, seed: u64) -> M {
    model.map(&mut SeededIds { seed, next: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ModuleVisitor;
    use burn::nn::{Linear, LinearConfig};

    struct Ids(Vec<ParamId>);

    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }

    fn ids(model: &Linear) -> Vec<ParamId> {
        let mut ids = Ids(Vec::new());
        model.visit(&mut ids);
        ids.0
    }

    #[test]
    fn ids_follow_the_seed_and_values_are_kept() {
        let device = Device::flex();
        let a = LinearConfig::new(3, 2).init(&device);
        let b = LinearConfig::new(3, 2).init(&device);
        assert_ne!(ids(&a), ids(&b));
        let (a, b) = (with_seeded_param_ids(a, 7), with_seeded_param_ids(b, 7));
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(ids(&a).len(), 2);
        assert_ne!(ids(&a)[0], ids(&a)[1]);
        assert_ne!(ids(&with_seeded_param_ids(a.clone(), 8)), ids(&a));
        let weight = |m: &Linear| m.weight.val().into_data();
        let c = LinearConfig::new(3, 2).init(&device);
        assert_eq!(weight(&with_seeded_param_ids(c.clone(), 1)), weight(&c));
    }
}
