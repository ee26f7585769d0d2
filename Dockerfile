# FFfusion bot image: `fffusion run` by default, `fffusion worker` and `fffusion db migrate` by command.
# .dockerignore keeps secrets (deploy/.env), .git and local caches out of the build context.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY . /app
# insightface declares the GUI build of OpenCV but opens no window: the headless build of the same version provides
# the same cv2 module without libGL and Mesa (217 MB), so exactly one OpenCV distribution is left in the image.
RUN pip install . \
    && opencv=$(pip show opencv-python | sed -n 's/^Version: //p') \
    && pip uninstall -y opencv-python \
    && pip install "opencv-python-headless==$opencv" \
    && python -c "import cv2, insightface.app, dlib"

RUN useradd --system --uid 10001 --home-dir /data fffusion \
    && mkdir -p /data /var/cache/fffusion && chown fffusion /data /var/cache/fffusion
USER fffusion
# The catalog cache lives outside /data, in the image: prepared here once, it is in every container from the start.
ENV FFFUSION_DATA_DIR=/data \
    FFFUSION_CACHE_DIR=/var/cache/fffusion \
    FFFUSION_HTTP_HOST=0.0.0.0 \
    FFFUSION_HTTP_PORT=8080 \
    FFFUSION_HEALTH_CHECK=true
RUN fffusion catalog build "$(python -c 'from bot.config import DEMO_CATALOG; print(DEMO_CATALOG)')"
# declared after every step that writes: the classic builder discards what a RUN writes under a VOLUME
VOLUME ["/data"]
EXPOSE 8080

CMD ["fffusion", "run"]
