// The JSON shapes of Madoguchi's REST API (/openapi.json), as the web app uses them.

export type Role = "admin" | "supervisor" | "agent";
export type Locale = "en" | "ja";

export interface User {
  id: number;
  email: string;
  name: string;
  role: Role;
  locale: Locale;
  disabled: boolean;
  has_password: boolean;
  created_at: string;
  last_login_at: string | null;
}

export interface Workspace {
  id: number;
  slug: string;
  name: string;
  /** IANA name (Asia/Tokyo): dates and times are written in this zone. */
  timezone: string;
}

export interface Me {
  user: User | null;
  role: Role;
  workspace: Workspace;
  via: "session" | "token";
}

export interface Contact {
  id: number;
  user_id: string | null;
  wa_id: string | null;
  username: string | null;
  profile_name: string | null;
}

export type ConversationStatus =
  | "new"
  | "in_flow"
  | "queued"
  | "offered"
  | "active"
  | "wrap_up"
  | "closed"
  | "abandoned";

export interface Conversation {
  id: number;
  status: ConversationStatus;
  contact: Contact;
  queue_id: number | null;
  priority: number;
  assigned_agent_id: number | null;
  offered_agent_id: number | null;
  previous_conversation_id: number | null;
  disposition_code: string | null;
  phone_number_id: string;
  display_phone_number: string;
  last_inbound_at: string | null;
  last_message_at: string | null;
  service_window_closes_at: string | null;
  created_at: string;
  closed_at: string | null;
  /** The campaign whose template reached the customer (its replies are routed back). */
  campaign_id?: number | null;
  campaign_name?: string | null;
  /** Customer messages after my read marker; null/absent when the server does not say. */
  unread?: number | null;
  csat?: ConversationCsat | null;
}

export interface ReadMarker {
  conversation_id: number;
  last_read_message_id: number | null;
  unread: number;
}

export interface Media {
  id: number;
  kind: string;
  status: "pending" | "stored" | "failed" | string;
  mime_type: string | null;
  file_size: number | null;
  filename: string | null;
  error: string | null;
  download_url: string | null;
}

export type MessageStatus =
  | "received"
  | "queued"
  | "accepted"
  | "sent"
  | "delivered"
  | "read"
  | "failed";

export interface Message {
  id: number;
  conversation_id: number;
  wamid: string | null;
  direction: "inbound" | "outbound";
  type: string;
  status: MessageStatus;
  text: string | null;
  content: Record<string, unknown>;
  reply_to_wamid: string | null;
  forwarded: boolean;
  frequently_forwarded: boolean;
  referral: Record<string, unknown> | null;
  errors: Array<Record<string, unknown>> | null;
  error_code: number | null;
  error_message: string | null;
  pricing: Record<string, unknown> | null;
  media: Media | null;
  timestamp: string;
  status_updated_at: string | null;
  created_at: string;
}

export interface Note {
  id: number;
  author_id: number | null;
  /** Who wrote it; null for a workspace API token. */
  author_name: string | null;
  body: string;
  created_at: string;
}

export interface QueueMember {
  user_id?: number | null;
  email?: string | null;
  priority: number;
}

export interface Disposition {
  code: string;
  label: string;
}

export interface QueueSpec {
  name: string;
  routing_method: string;
  max_per_agent: number;
  offer_timeout_seconds: number;
  timezone: string;
  hours: Record<string, string[][]> | null;
  holidays: string[];
  closed_message: string | null;
  closed_target: string | null;
  max_wait_seconds: number | null;
  overflow_target: string | null;
  auto_close_after_seconds: number | null;
  members: QueueMember[];
  dispositions: Disposition[];
  csat?: CsatSettings;
}

/** A queue's customer-satisfaction question (docs/reports.md). */
export interface CsatSettings {
  enabled: boolean;
  kind: "list" | "buttons";
  language: "auto" | "en" | "ja";
  texts?: Partial<Record<"en" | "ja", { question?: string | null; button?: string | null; good?: string | null; okay?: string | null; poor?: string | null }>>;
}

/** The CSAT question of one conversation and its answer (GET /conversations/{id}). */
export interface ConversationCsat {
  asked_at: string;
  answered_at: string | null;
  score: number | null;
  kind: string;
  language: string;
  queue_id: number | null;
  agent_id: number | null;
}

export interface Queue extends QueueSpec {
  id: number;
  waiting?: number;
}

export interface Agent {
  user_id: number;
  name: string;
  email: string;
  role: Role;
  presence: Presence;
  away_reason: string | null;
  open_conversations: number;
}

export type Presence = "offline" | "available" | "away";

/** A colleague as anyone may see them (GET /agents/directory): no e-mail. */
export interface Colleague {
  user_id: number;
  name: string;
  role: Role;
  presence: Presence;
  open_conversations: number;
  capacity: number;
  has_capacity: boolean;
}

export interface PhoneNumber {
  id: number;
  phone_number_id: string;
  display_phone_number: string;
  verified_name: string | null;
  status: string;
  quality_rating: string | null;
  rate_limit_per_second: number;
  default_queue_id: number | null;
  waba_id: string;
  account_name: string;
}

export interface ApiToken {
  id: number;
  name: string;
  role: Role;
  user_id: number | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Template {
  id?: number;
  name: string;
  language: string;
  category?: string;
  status?: string;
  components?: Array<Record<string, unknown>>;
  parameters?: Array<{ key: string; component: string; kind: string; example: string | null; required: boolean }>;
  parameter_format?: string;
  quality_score?: string | null;
  rejected_reason?: string | null;
}

/** A frame of the live stream (/api/v1/ws). */
export interface LiveEvent {
  event: string;
  seq?: number;
  conversation_id?: number;
  message_id?: number;
  status?: string;
  step?: string;
  agent_id?: number;
  previous_agent_id?: number | null;
  queue_id?: number;
  user_id?: number;
  waiting?: number;
  expires_at?: string;
  error_code?: number | null;
  error_message?: string | null;
  new_conversation?: boolean;
  [key: string]: unknown;
}

export interface SignupStep {
  step: "exchange" | "subscribe" | "register" | "details";
  state: "pending" | "done" | "skipped" | "failed";
  message: string | null;
  meta_code: number | null;
}

export interface Signup {
  id: number;
  state: "in_progress" | "failed" | "completed";
  waba_id: string;
  phone_number_id: string;
  steps: SignupStep[];
  failed_step: string | null;
  message: string | null;
  number_id: number | null;
  retry_needs: "pin" | "new_signup" | null;
}

export interface HealthWarning {
  code: string;
  level: "warning" | "danger";
  message: string;
}

export interface NumberHealthReport {
  number_id: number;
  phone_number_id: string;
  display_phone_number: string;
  status: string;
  checked_at: string | null;
  reached: boolean | null;
  meta: {
    status?: string | null;
    quality_rating?: string | null;
    messaging_limit_tier?: string | null;
    throughput_level?: string | null;
    name_status?: string | null;
    error?: string;
  };
  token: { checked?: boolean; valid?: boolean; type?: string; scopes?: string[]; expires_at?: string | null; error?: string | null };
  webhooks: { subscribed?: boolean | null; apps?: string[]; error?: string };
  calling: { status?: string | null };
  traffic: {
    last_webhook_at: string | null;
    last_send_at: string | null;
    errors: { code: number | null; count: number; message: string | null; last_at: string | null }[];
  };
  warnings: HealthWarning[];
}

export type CallStatus = "ringing" | "connecting" | "active" | "ended" | "missed" | "rejected" | "failed";

export interface Call {
  id: number;
  conversation_id: number;
  contact_id: number;
  contact_name: string | null;
  direction: "inbound" | "outbound";
  status: CallStatus;
  agent_id: number | null;
  ringing_agent_ids: number[];
  offer_sdp: string | null;
  answer_sdp: string | null;
  end_reason: string | null;
  duration_seconds: number | null;
  created_at: string;
  answered_at: string | null;
  ended_at: string | null;
}

export interface CallPermission {
  status: "none" | "requested" | "accepted" | "rejected" | "expired";
  can_call: boolean;
  expires_at: string | null;
  permanent: boolean;
  source: "request" | "callback" | null;
  next_request_at: string | null;
}
