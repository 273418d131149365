//! Data parallelism: how the ranks of a job share a step and agree on its gradients.
//!
//! A step reads `world x grad_accum` micro-batches from the one global stream, in the same order
//! whatever the world size; rank `r` trains on micro-batches `r x grad_accum` to
//! `(r + 1) x grad_accum - 1` of them. The gradients are summed over the ranks in one flat buffer
//! (one all-reduce a step), each micro-batch weighted by its share of the whole step's predicted
//! positions, so every rank takes the same optimizer step as one process with
//! `grad_accum x world` micro-batches would.

use std::collections::HashSet;
use std::ops::Range;

use anyhow::{Result, bail};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::parallel::ProcessGroup;
use crate::seed::splitmix64;

/// The micro-batches a step reads from the global stream.
pub fn micro_batches_per_step(world: usize, grad_accum: usize) -> usize {
    world * grad_accum
}

/// The global indices, within a step, of the micro-batches rank `rank` trains on.
pub fn own_micro_batches(rank: usize, grad_accum: usize) -> Range<usize> {
    rank * grad_accum..(rank + 1) * grad_accum
}

/// The seed of the device's random state (dropout) before micro-batch `index` of a step whose
/// seed is `step_seed`: micro-batch 0 keeps the step's seed, so a run of one micro-batch a step
/// draws what it always drew; the others get their own, so that a micro-batch draws the same
/// dropout on whichever rank it falls.
pub fn micro_batch_seed(step_seed: u64, index: usize) -> u64 {
    if index == 0 {
        step_seed
    } else {
        splitmix64(step_seed ^ splitmix64(index as u64))
    }
}

/// Why a run cannot continue with `world` ranks of `grad_accum` micro-batches after a checkpoint
/// written by `saved_world` ranks of `saved_grad_accum`: the data order and the loss of a step
/// depend only on the effective batch, so any split of the same one may continue.
pub fn effective_batch_conflict(
    (saved_world, saved_grad_accum): (usize, usize),
    (world, grad_accum): (usize, usize),
) -> Option<String> {
    let saved = saved_world * saved_grad_accum;
    let now = world * grad_accum;
    (saved != now).then(|| {
        format!(
            "the checkpoint was trained by {saved_world} rank(s) x train.grad_accum \
             {saved_grad_accum} = {saved} micro-batches a step, and this run would take {world} \
             x {grad_accum} = {now}; choose train.grad_accum so that the ranks times it make \
             {saved}"
        )
    })
}

/// Refuses to train unless every rank describes the job as rank 0 does (`description`: its
/// configuration, shards and starting step); a rank that differs names the first difference.
/// Every rank learns whether any refused, so all stop together.
pub fn check_same_job(group: &dyn ProcessGroup, description: &str) -> Result<()> {
    if group.world() == 1 {
        return Ok(());
    }
    let root = group.broadcast_from_root(description.as_bytes().to_vec());
    let root = String::from_utf8_lossy(&root);
    let difference = first_difference(&root, description);
    if !group.any(difference.is_some()) {
        return Ok(());
    }
    match difference {
        Some((theirs, mine)) => bail!(
            "rank {} of {} does not run rank 0's job: rank 0 has `{theirs}`, this rank `{mine}` \
             (every rank must read the same config, shards and run directory)",
            group.rank(),
            group.world()
        ),
        None => bail!(
            "another rank does not run rank {}'s job (its own error says how it differs)",
            group.rank()
        ),
    }
}

/// The first line where `a` and `b` differ, as it reads in each.
fn first_difference(a: &str, b: &str) -> Option<(String, String)> {
    let (mut a_lines, mut b_lines) = (a.lines(), b.lines());
    loop {
        match (a_lines.next(), b_lines.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                let end = "(end)";
                return Some((x.unwrap_or(end).to_owned(), y.unwrap_or(end).to_owned()));
            }
        }
    }
}

/// Each parameter's gradient (zeros where this rank has none), flattened in visit order.
struct Gather<'a> {
    grads: &'a mut GradientsParams,
    seen: HashSet<ParamId>,
    values: Vec<f32>,
    /// Per parameter: 1 where this rank had a gradient.
    present: Vec<f32>,
}

impl ModuleVisitor for Gather<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        let grad = self.grads.remove::<D>(param.id);
        self.present.push(if grad.is_some() { 1.0 } else { 0.0 });
        let grad = grad.unwrap_or_else(|| param.val().inner().zeros_like());
        let data = grad.into_data().convert::<f32>();
        self.values
            .extend_from_slice(data.as_slice::<f32>().expect("f32 gradient data"));
    }
}

/// The summed gradients put back, for each parameter that some rank had one for.
struct Scatter<'a> {
    grads: &'a mut GradientsParams,
    seen: HashSet<ParamId>,
    values: &'a [f32],
    present: &'a [f32],
    offset: usize,
    index: usize,
}

impl ModuleVisitor for Scatter<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        let like = param.val().inner();
        let shape = like.shape();
        let len = shape.num_elements();
        let values = &self.values[self.offset..self.offset + len];
        self.offset += len;
        let present = self.present[self.index] > 0.0;
        self.index += 1;
        if present {
            let data = TensorData::new(values.to_vec(), shape);
            let summed = Tensor::<D>::from_data(data, &like.device());
            self.grads.register(param.id, summed);
        }
    }
}

/// Replaces this rank's gradients of `model`'s parameters by their sum over every rank, in one
/// all-reduce of a flat buffer.
pub fn sum_gradients<M: Module>(group: &dyn ProcessGroup, model: &M, grads: &mut GradientsParams) {
    if group.world() == 1 {
        return;
    }
    let mut gather = Gather {
        grads,
        seen: HashSet::new(),
        values: Vec::new(),
        present: Vec::new(),
    };
    model.visit(&mut gather);
    let Gather {
        grads,
        mut values,
        mut present,
        ..
    } = gather;
    let split = values.len();
    values.append(&mut present);
    group.sum_f32(&mut values);
    let (values, present) = values.split_at(split);
    model.visit(&mut Scatter {
        grads,
        seen: HashSet::new(),
        values,
        present,
        offset: 0,
        index: 0,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_split_a_step_as_micro_batches_of_one_process() {
        // 2 ranks x 2 micro-batches read the 4 that one process with grad_accum 4 reads.
        assert_eq!(micro_batches_per_step(2, 2), 4);
        assert_eq!(own_micro_batches(0, 2), 0..2);
        assert_eq!(own_micro_batches(1, 2), 2..4);
        assert_eq!(own_micro_batches(0, 4), 0..4);
    }

    #[test]
    fn the_first_micro_batch_keeps_the_step_seed() {
        assert_eq!(micro_batch_seed(77, 0), 77);
        let seeds: HashSet<u64> = (0..8).map(|i| micro_batch_seed(77, i)).collect();
        assert_eq!(seeds.len(), 8);
    }

    #[test]
    fn any_split_of_the_same_effective_batch_may_resume() {
        assert_eq!(effective_batch_conflict((2, 1), (1, 2)), None);
        assert_eq!(effective_batch_conflict((2, 2), (4, 1)), None);
        let refused = effective_batch_conflict((2, 1), (2, 2)).unwrap();
        assert!(
            refused.contains("2 rank(s) x train.grad_accum 1 = 2"),
            "{refused}"
        );
        assert!(refused.contains("2 x 2 = 4"), "{refused}");
    }

    #[test]
    fn the_first_differing_line_is_named() {
        assert_eq!(first_difference("a\nb\nc", "a\nb\nc"), None);
        assert_eq!(
            first_difference("a\nsteps = 10\n", "a\nsteps = 20\n"),
            Some(("steps = 10".into(), "steps = 20".into()))
        );
        assert_eq!(
            first_difference("a", "a\nb"),
            Some(("(end)".into(), "b".into()))
        );
    }

    /// Two ranks that hold the same values: a sum doubles them.
    #[derive(Debug)]
    struct TwinRanks;

    impl ProcessGroup for TwinRanks {
        fn rank(&self) -> usize {
            0
        }
        fn world(&self) -> usize {
            2
        }
        fn sum_f32(&self, values: &mut [f32]) {
            values.iter_mut().for_each(|v| *v *= 2.0);
        }
        fn sum_f64(&self, values: &mut [f64]) {
            values.iter_mut().for_each(|v| *v *= 2.0);
        }
        fn broadcast_from_root(&self, bytes: Vec<u8>) -> Vec<u8> {
            bytes
        }
        fn barrier(&self) {}
        fn abort(&self, code: i32) -> ! {
            panic!("abort {code}")
        }
    }

    #[derive(Module, Debug)]
    struct Net {
        used: burn::nn::Linear,
        unused: burn::nn::Linear,
    }

    #[test]
    fn gradients_are_summed_and_put_back_in_place() {
        use burn::nn::LinearConfig;
        let device = Device::flex().autodiff();
        let net = Net {
            used: LinearConfig::new(3, 2).init(&device),
            unused: LinearConfig::new(2, 2).init(&device),
        };
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], &device);
        let loss = net.used.forward(x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &net);
        let flat = |g: &GradientsParams, id| {
            g.get::<2>(id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let weight = flat(&grads, net.used.weight.id);
        let bias = grads.get::<1>(net.used.bias.as_ref().unwrap().id).unwrap();
        let bias = bias.into_data().try_to_vec::<f32>().unwrap();
        sum_gradients(&TwinRanks, &net, &mut grads);
        let doubled: Vec<f32> = weight.iter().map(|w| w * 2.0).collect();
        assert_eq!(flat(&grads, net.used.weight.id), doubled);
        let summed_bias = grads.get::<1>(net.used.bias.as_ref().unwrap().id).unwrap();
        let doubled: Vec<f32> = bias.iter().map(|b| b * 2.0).collect();
        assert_eq!(
            summed_bias.into_data().try_to_vec::<f32>().unwrap(),
            doubled
        );
        // A parameter no rank had a gradient for still has none.
        assert!(grads.get::<2>(net.unused.weight.id).is_none());
        assert_eq!(grads.len(), 2);
    }
}
