"""The whole training step as one CUDA graph: gather the batch, forward, loss, backward, clip, AdamW.

A small model's eager step on a GPU is bound by kernel launches from Python (hundreds per step,
~10 ms for the standard DT on an H100), not by arithmetic. Captured once and replayed, the same
kernels run back to back with one launch. What stays outside the graph: drawing the batch's random
numbers from the sampler's generator (``Sampler.draw``, so a graphed run draws exactly the batches
an eager run draws) and writing this step's learning rate into the optimizer's lr tensor. Any
learner whose sampler's ``gather`` has fixed shapes can be graphed.

The capture needs warm-up steps on a side stream; they change the weights, so the weights and the
optimizer state are put back afterwards and the first replayed step starts where an eager run
would. The optimizer must be ``capturable`` with a tensor learning rate (``make_optimizer(...,
capturable=True)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

WARMUP_STEPS = 3


class GraphedTrainStep:
    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        sampler: Any,
        batch_size: int,
        *,
        bf16: bool,
        grad_clip: float,
        loss_fn: Callable[[dict[str, torch.Tensor]], Any] | None = None,
    ) -> None:
        device = sampler.device
        if device.type != "cuda":
            raise ValueError("a CUDA graph needs a CUDA device")
        self.model, self.optimizer, self.sampler = model, optimizer, sampler
        self.batch_size, self.grad_clip, self.bf16 = batch_size, grad_clip, bf16
        self.loss_fn = loss_fn or model.loss
        self.lr_tensors = []
        for group in optimizer.param_groups:
            if not isinstance(group["lr"], torch.Tensor):
                raise ValueError("the optimizer needs a tensor learning rate (make_optimizer(capturable=True))")
            if all(group["lr"] is not t for t in self.lr_tensors):
                self.lr_tensors.append(group["lr"])
        # static inputs: the draws' shapes, from a throwaway generator (the run's is not touched)
        example = sampler.draw(batch_size, torch.Generator(device=device).manual_seed(0))
        self.draws = {key: torch.zeros_like(value) for key, value in example.items()}
        self.graph = self._capture()

    def _step(self) -> dict[str, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=False):
            out = self.loss_fn(self.sampler.gather(self.draws))
        loss, metrics = (out[0], dict(out[1])) if isinstance(out, tuple) else (out, {})
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return {"loss": loss.detach(), **{k: v.detach() for k, v in metrics.items()}}

    def _capture(self) -> torch.cuda.CUDAGraph:
        params = [p.detach().clone() for p in self.model.parameters()]
        fresh = not self.optimizer.state
        saved_state = {
            id(p): {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
            for p, s in self.optimizer.state.items()
        }
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.optimizer.zero_grad(set_to_none=True)
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            self.values = self._step()
        # Undo the warm-up and capture steps: same weights and optimizer state as before.
        with torch.no_grad():
            for p, saved in zip(self.model.parameters(), params, strict=True):
                p.copy_(saved)
            for p, state in self.optimizer.state.items():
                for key, value in state.items():
                    if not isinstance(value, torch.Tensor):
                        continue
                    if fresh:
                        value.zero_()
                    else:
                        value.copy_(saved_state[id(p)][key])
        torch.cuda.synchronize()
        return graph

    def __call__(self, generator: torch.Generator, lr: float) -> dict[str, torch.Tensor]:
        """One step on a fresh batch; returns the (static) loss and metrics, valid until the next call."""
        for key, value in self.sampler.draw(self.batch_size, generator).items():
            self.draws[key].copy_(value)
        for t in self.lr_tensors:
            t.fill_(lr)
        self.graph.replay()
        return self.values
