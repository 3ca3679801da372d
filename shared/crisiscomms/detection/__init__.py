"""Detection: pure signals and levels, the per-minute run, the alert lifecycle and the SMS text.

Owns `levels` (figures, raw level, flap control; pure), `run` (the Detector: decisions applied
to alert records, SMS claimed then sent, escalation), `alerts` (what on-call staff do through the
API) and `sms` (one message that fits). May import `watch`, `aws` (repositories and the SNS
call it is handed), models, identity, errors and observability; never `listening` or `statements`.
"""
