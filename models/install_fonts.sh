#!/bin/sh
# Debian fonts the synthetic data engine renders with (models/synth.py FONT_GLOBS); run as root or with sudo.
set -e
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    fonts-noto-cjk fonts-noto-cjk-extra fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-ukai fonts-arphic-uming \
    fonts-lxgw-wenkai fonts-cwtex-ming fonts-droid-fallback \
    fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-urw-base35 fonts-roboto-unhinted fonts-open-sans \
    fonts-lato fonts-hack fonts-inconsolata fonts-comic-neue fonts-dkg-handwriting \
    fonts-ocr-b fonts-jetbrains-mono fonts-firacode fonts-courier-prime fonts-noto-mono fonts-agave
