# The production image: the web app under gunicorn, and the same image for the Celery worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY . .
# Static files with hashed names and gzip copies, served by gunicorn (WhiteNoise); the
# manifest they leave in /app/staticfiles switches the hashed names on at run time.
RUN DJANGO_STATIC_MANIFEST=1 python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /app/var && chown app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.conf.py"]
