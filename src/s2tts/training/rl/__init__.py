"""Reinforcement learning after SFT: S2's GRPO variant (report §4.3).

Per prompt the policy samples G outputs (``rollout``); each is decoded to audio and scored by
reward functions in a separate process pool (``rewards``, ``pool``); advantages are the reward
minus the group mean (``objective.group_advantages``); the loss is a policy gradient over the
slow-AR tokens and the fast-AR codes with a per-token k3 KL to the reference policy
(``objective``, ``logprobs``), which is the same network with the LoRA adapter switched off
(``reference``). ``recipe`` runs the loop; ``export`` writes any of its checkpoints as a model.
"""
