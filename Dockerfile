# The image of docker-compose.yaml: the official Airflow image plus this provider (and its simulator).
# Build: docker compose build   (or: docker build -t airflow-provider-sinch:local .)
FROM apache/airflow:3.3.2

# The sinch-tls volume of docker-compose.yaml mounts here: the simulator writes its self-signed
# certificate, the Airflow services read it. A new volume takes this folder's owner (the airflow user).
USER root
RUN mkdir -p /opt/sinch-tls && chown airflow:0 /opt/sinch-tls
USER airflow

COPY --chown=airflow:0 pyproject.toml README.md LICENSE /opt/airflow-provider-sinch/
COPY --chown=airflow:0 constraints/airflow-3.3.2.txt /opt/airflow-provider-sinch/constraints/
COPY --chown=airflow:0 airflow_provider_sinch /opt/airflow-provider-sinch/airflow_provider_sinch

# Pinning apache-airflow to the base image's version stops pip from up- or downgrading the image's
# Airflow while it resolves the provider's requirements (as Airflow's "extend the image" guide says), and
# the constraints file tested with 3.3.2 (the one `make test` uses) pins everything else the same way.
RUN pip install --no-cache-dir -c /opt/airflow-provider-sinch/constraints/airflow-3.3.2.txt \
    "apache-airflow==3.3.2" "/opt/airflow-provider-sinch[simulator]"
