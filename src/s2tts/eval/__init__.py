"""Evaluation harness: test sets, systems, scorers, reports.

::

    test set (.lst / .jsonl) ─► system (checkpoint | server URL | wavs:DIR) ─► audio
        ─► scorers: WhisperASR (WER/CER), SpeakerEncoder (similarity), DNSMOS, DistillMOS,
                    acoustic tag tests, long-form stability, speed (engine metrics)
        ─► utterances.jsonl + summary.json + report.md/.html + plots; compare() across runs

Nothing is imported or loaded here: each scorer loads its model when its object is made (local
package directories only, see ``s2tts.scoring.local_models``), so a worker process that scores
rewards loads each model once.
"""
