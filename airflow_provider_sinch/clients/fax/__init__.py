"""Sinch's Fax API: ``vocabulary`` (values and checks, no I/O), ``core`` (the search logic, no I/O) and
``client`` (:class:`~airflow_provider_sinch.clients.fax.client.FaxClient`, ``SinchHook().fax``)."""
