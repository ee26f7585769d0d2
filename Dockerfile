# FFfusion bot image. Installs and runs the project the same way the README does.
FROM python:3.11-slim

# opencv-python (required by insightface) needs libGL and glib at import time; slim images lack them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e .

ENV FFFUSION_DATA_DIR=/data \
    FFFUSION_CACHE_DIR=/data/cache \
    FFFUSION_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

# Prepare the demo catalog at build time so the first start embeds and detects nothing.
RUN FFFUSION_CACHE_DIR=/data/cache fffusion catalog build data/demo

CMD ["fffusion", "run"]
