<?php
// Placeholder page of the base image; the stack's web image (stack/web/) replaces it.
header('Content-Type: text/plain');
echo 'swarmwatch/web on ', gethostname(), ', PHP ', PHP_VERSION, "\n";
