/**
 * Every benchmark workload, one file per family. To add a family, write
 * bench/workloads/<family>.ts exporting `default` as a Workload[] and add two lines here.
 */
import type { Workload } from '../harness.ts';
import conv from './conv.ts';
import core from './core.ts';
import losses from './losses.ts';
import norm from './norm.ts';
import train from './train.ts';

export const workloads: readonly Workload[] = [...core, ...conv, ...losses, ...norm, ...train];
