#!/bin/sh
sleep 0.3
printf 'Content-Type: text/plain\r\n\r\nslow\n'
