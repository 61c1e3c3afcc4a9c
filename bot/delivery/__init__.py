"""Delivery: the outbox drain, from stored rows to sent messages.

The pipeline ends at the outbox (``deliveries``); everything past it lives here: building each
alert and digest from storage (:mod:`bot.delivery.build`, :mod:`bot.delivery.digest`) and the
worker that sends them through the transports (:mod:`bot.delivery.worker`). This is the only
part of the core that knows transports exist, and it is what a delivery process runs.
"""
